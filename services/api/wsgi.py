"""The WSGI entry point for gunicorn: `gunicorn services.api.wsgi:app`."""
from services.api.app import create_app
from services.api.housekeeping import start_housekeeping

app = create_app()
start_housekeeping(app)
