{{/* Names, labels and the pieces the gateway and executor pods share. */}}

{{- define "flowhost.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flowhost.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "flowhost.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flowhost.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "flowhost.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "flowhost.fullname" .)) -}}
{{- end -}}

{{/* The Kubernetes name part of a runtime: its id, else its name made a DNS label. */}}
{{- define "flowhost.runtimeId" -}}
{{- $id := .id | default (.name | lower | replace "_" "-" | replace "." "-" | replace "@" "-") -}}
{{- if not (regexMatch "^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$" $id) -}}
{{- fail (printf "runtime %q: its Kubernetes name %q is not a DNS label of at most 22 characters; set runtimes[].id" .name $id) -}}
{{- end -}}
{{- $id -}}
{{- end -}}

{{/* "<fullname>-executor-<id>": the Deployment and the headless Service of one runtime. */}}
{{- define "flowhost.executorName" -}}
{{- printf "%s-executor-%s" (include "flowhost.fullname" .root) (include "flowhost.runtimeId" .runtime) -}}
{{- end -}}

{{- define "flowhost.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "flowhost.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
{{- end -}}

{{/* Probes: the CLI's `flowhost probe TARGET`, as the compose healthchecks run it. */}}
{{- define "flowhost.probes" -}}
{{- $exec := dict "command" (list "flowhost" "probe" .target) -}}
{{- $timing := dict "periodSeconds" .probe.periodSeconds "timeoutSeconds" .probe.timeoutSeconds -}}
startupProbe:
  exec: {{ toJson $exec }}
  {{- toYaml (merge (dict "failureThreshold" 30) $timing) | nindent 2 }}
readinessProbe:
  exec: {{ toJson $exec }}
  {{- toYaml (merge (dict "failureThreshold" 2) $timing) | nindent 2 }}
livenessProbe:
  exec: {{ toJson $exec }}
  {{- toYaml (merge (dict "failureThreshold" .probe.failureThreshold) $timing) | nindent 2 }}
{{- end -}}

{{- define "flowhost.env" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}
