"""Public dotted paths of the log masking: ``gunicorn --logger-class
notifications.logfilters.GunicornLogger`` (the Procfile, and deployments'
copies of it) and the ``MaskTokens`` logging filter. The code lives in
notifications/acknowledgements/logfilters.py; these names are kept so that no
deployment has to change."""

from notifications.acknowledgements.logfilters import GunicornLogger, MaskTokens

__all__ = ["GunicornLogger", "MaskTokens"]
