"""The Python web floor: a lean single-worker FastAPI endpoint doing the quote in-process.

`Request` -> orjson -> `Response`, as lean as FastAPI gets.
Run: python -m flowhost.bench.baseline PORT
"""

from __future__ import annotations

import sys

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/fs/bench/actions/quote")
async def quote(request: Request) -> Response:
    req = orjson.loads(await request.body())
    values = {i["developerName"]: i["contentValue"] for i in req.get("inputs") or ()}
    total = float(values["quantity"]) * float(values["unitPrice"])
    body = {
        "invokeType": "FORWARD",
        "token": req.get("token"),
        "tenantId": req.get("tenantId"),
        "culture": req.get("culture"),
        "outputs": [
            {
                "developerName": "total",
                "contentType": "ContentNumber",
                "contentValue": f"{total:g}",
                "objectData": None,
            },
            {
                "developerName": "sku",
                "contentType": "ContentString",
                "contentValue": str(values["sku"]).upper(),
                "objectData": None,
            },
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
