"""What app ids and setting names look like: the catalog's manifests and the HTTP API's paths check them,
and the API should not load the catalog's parser (YAML, the manifest models) just to know the patterns."""

APP_ID = r"^[a-z0-9][a-z0-9-]{0,39}$"
SETTING_NAME = r"^[A-Z][A-Z0-9_]{0,39}$"
