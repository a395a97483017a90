"""Examples for the Flow endpoints in the OpenAPI document, from real traffic.

Each is a sample of `../shared/flow-samples` (named beside it; ORIGINS.md there says where it was
recorded), trimmed to what shows the shape: kept in code so an installed gateway documents them
without data files.
"""

from __future__ import annotations

from typing import Any

#: sql-metadata-request.json
DESCRIBE_REQUEST: Any = {
    "culture": None,
    "uri": "https://manywho-ex2.ngrok.io",
    "configurationValues": [
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Password",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{password}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Type",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{databaseType}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Name",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{databaseName}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Port",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{port}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Host",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{host}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Username",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{userName}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Schema",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{schema}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "No SSL",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "true",
            "contentType": None,
            "objectData": None,
        },
    ],
}


#: javasdk-v2-metadata-describe-response.json
DESCRIBE_V2_RESPONSE: Any = {
    "configurationValues": [
        {
            "developerName": "Value One",
            "contentValue": None,
            "contentType": "ContentString",
            "typeElementDeveloperName": None,
            "ordinal": 0,
            "required": True,
        },
        {
            "developerName": "Value Two",
            "contentValue": None,
            "contentType": "ContentString",
            "typeElementDeveloperName": None,
            "ordinal": 0,
            "required": False,
        },
    ],
    "providesAutoBinding": False,
    "providesDatabase": True,
    "providesFiles": True,
    "providesIdentity": True,
    "providesListening": True,
    "providesLogic": True,
    "providesNotifications": False,
    "providesSmartSave": False,
    "providesSocial": False,
    "providesSharing": False,
    "providesViews": False,
    "providesVoting": False,
    "version": "2",
}


#: sql-data-load-by-external-id-request.json (authorization left out)
DATA_LOAD_REQUEST: Any = {
    "stateId": None,
    "token": None,
    "typeElementBindingId": None,
    "authorization": None,
    "configurationValues": [
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Password",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{password}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Type",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{databaseType}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Schema",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{schema}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Database Name",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{databaseName}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Port",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{port}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Host",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{host}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "Username",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "{{userName}}",
            "contentType": None,
            "objectData": None,
        },
        {
            "valueElementId": None,
            "typeElementId": None,
            "typeElementPropertyId": None,
            "developerName": "No SSL",
            "typeElementDeveloperName": None,
            "typeElementPropertyDeveloperName": None,
            "contentValue": "true",
            "contentType": None,
            "objectData": None,
        },
    ],
    "command": None,
    "culture": {
        "id": None,
        "developerName": None,
        "developerSummary": None,
        "brand": None,
        "language": "EN",
        "country": "USA",
        "variant": None,
    },
    "listFilter": {
        "id": "eyJpZCI6IjEifQ==",
        "filterByProvidedObjects": False,
        "orderByPropertyDeveloperName": None,
        "orderByDirectionType": "",
        "orderBy": None,
        "limit": 0,
        "offset": 0,
        "search": None,
        "searchCriteria": None,
        "comparisonType": "",
        "where": None,
        "listFilters": None,
    },
    "objectDataType": {
        "typeElementId": "055214d9-3c81-40f7-860d-8f5adfe1a165",
        "developerName": "country",
        "properties": [
            {"developerName": "name", "list": None},
            {"developerName": "description", "list": None},
            {"developerName": "id", "list": None},
        ],
    },
    "objectData": [
        {
            "internalId": "3303acd1-34ad-450c-94eb-2b30a19d4366",
            "externalId": "eyJpZCI6IjEifQ==",
            "developerName": "country",
            "typeElementId": "055214d9-3c81-40f7-860d-8f5adfe1a165",
            "order": 0,
            "properties": [
                {
                    "typeElementPropertyId": "b478418f-d51a-48ee-bef2-e132204305f5",
                    "developerName": "name",
                    "contentValue": "",
                    "contentType": "ContentString",
                    "contentFormat": "",
                    "objectData": None,
                },
                {
                    "typeElementPropertyId": "162fe6a7-2b25-450f-8c40-10f585e25b6f",
                    "developerName": "description",
                    "contentValue": "",
                    "contentType": "ContentString",
                    "contentFormat": "",
                    "objectData": None,
                },
                {
                    "typeElementPropertyId": "adbde9f2-3bc2-4be5-8bd8-a3f0a4953e40",
                    "developerName": "id",
                    "contentValue": "",
                    "contentType": "ContentNumber",
                    "contentFormat": "",
                    "objectData": None,
                },
            ],
            "isSelected": False,
        }
    ],
}


#: sql-data-load-by-external-id-response.json
DATA_LOAD_RESPONSE: Any = {
    "culture": None,
    "objectData": [
        {
            "internalId": None,
            "externalId": "eyJpZCI6IjEifQ==",
            "developerName": "country",
            "typeElementId": None,
            "order": 0,
            "properties": [
                {
                    "typeElementPropertyId": None,
                    "developerName": "id",
                    "contentType": "ContentNumber",
                    "contentValue": "1",
                    "contentFormat": None,
                    "objectData": [],
                },
                {
                    "typeElementPropertyId": None,
                    "developerName": "name",
                    "contentType": "ContentString",
                    "contentValue": "Uruguay",
                    "contentFormat": None,
                    "objectData": [],
                },
                {
                    "typeElementPropertyId": None,
                    "developerName": "description",
                    "contentType": "ContentString",
                    "contentValue": "It is a nice country",
                    "contentFormat": None,
                    "objectData": [],
                },
            ],
            "isSelected": False,
        }
    ],
    "hasMoreResults": False,
}


#: box-action-file-copy-response.json
ACTION_RESPONSE: Any = {
    "token": "12b1d498-9237-4331-b329-312de9d46c16",
    "tenantId": None,
    "culture": None,
    "annotations": None,
    "invokeType": "FORWARD",
    "waitMessage": None,
    "outputs": None,
    "selectedOutcomeId": None,
    "rootFaults": None,
    "valueFaults": None,
    "mode": None,
}
