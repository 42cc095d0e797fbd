"""WSGI entry point for gunicorn: `gunicorn ivr.wsgi:app`."""

from ivr.app import create_app

app = create_app({"replay_spool": True})
# A web process hears callers: its speech classifier trains now, in the background, so the
# first calls are heard by keywords while it does and nobody waits for it.
app.extensions["ivr"].engine.listener.start_training()
