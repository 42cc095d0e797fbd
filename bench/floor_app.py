"""The floor: the least a Flask app under gunicorn can do for a voice webhook.

Same routes as the hotline's measured webhooks, but no signature check, no flow
engine, no TwiML rendering and no Redis: it returns one fixed TwiML document.
Whatever the hotline costs above this is our own code. Served by
`gunicorn bench.floor_app:app` with the same worker settings as the hotline.
"""

from __future__ import annotations

from flask import Flask, Response

FIXED_TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Say language="zh-CN">您好，幸福家园物业客服中心，很高兴为您服务。</Say>'
    '<Gather action="/voice/step?node=main_menu&amp;lang=zh-CN&amp;seq=1&amp;ni=0&amp;nm=0" '
    'input="dtmf speech" language="zh-CN" method="POST" numDigits="1" speechTimeout="auto" '
    'timeout="6"><Say language="zh-CN">报修请按1，投诉请按2，咨询请按3，人工服务请按0。</Say>'
    "</Gather></Response>"
)

app = Flask(__name__)


@app.post("/voice/incoming")
@app.post("/voice/step")
def fixed_twiml() -> Response:
    return Response(FIXED_TWIML, mimetype="text/xml")


@app.get("/healthz")
def healthz() -> Response:
    return Response('{"status":"ok"}', mimetype="application/json")
