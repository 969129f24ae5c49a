"""gunicorn settings for the API: `gunicorn -c python:services.api.gunicorn_config services.api.wsgi:app`.
The command line (and GUNICORN_CMD_ARGS) still override them."""
from services.api.gunicorn_errors import send_errors_as_problems
from shared.limits import MAX_REQUEST_LINE_BYTES

limit_request_line = MAX_REQUEST_LINE_BYTES

send_errors_as_problems()
