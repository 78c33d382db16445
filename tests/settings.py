"""Test settings: the production module with fast hashing and captured email."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-that-is-long-enough-0123456789")
os.environ.setdefault("OPENKAP_VAR_DIR", os.path.join(tempfile.gettempdir(), "openkap-test-var"))
os.environ.setdefault("OPENKAP_FIELD_KEYS", "b3BlbmthcC10ZXN0LWZpZWxkLWtleS0zMi1ieXRlcyE=")

from openkap.settings import *  # noqa: F403

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns on a missing root

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
# Background tasks run at once, inside the test (still only after the commit that enqueues them).
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
OPENKAP_CHECKPOINT_KEY = "test-only-checkpoint-key-kept-outside-the-database"
# Curves are not kept between test runs (tests of the shared curve cache choose their own).
CACHES = {**CACHES, "pk": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}  # noqa: F405
# A second alias on the test database standing in for a read replica; nothing routes to it
# unless a test turns the router on (tests/test_replica_router.py).
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}  # noqa: F405
