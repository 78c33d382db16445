"""TOTP secrets encrypted at rest under OPENKAP_FIELD_KEYS (docs/adr/0005-field-encryption.md).

Existing plaintext secrets are encrypted in place, so enrolled users keep their
authenticator apps; reversing decrypts them back into the plaintext column.
"""

from django.db import migrations, models

from openkap import fieldcrypto


def _convert(apps, source, target, convert):
    User = apps.get_model("accounts", "User")
    users = list(User.objects.exclude(**{source: ""}).only("id", source))
    for user in users:
        setattr(user, target, convert(getattr(user, source)))
    User.objects.bulk_update(users, [target], batch_size=500)


def encrypt_secrets(apps, schema_editor):
    _convert(apps, "totp_secret", "totp_secret_encrypted", fieldcrypto.encrypt_text)


def decrypt_secrets(apps, schema_editor):
    _convert(apps, "totp_secret_encrypted", "totp_secret", fieldcrypto.decrypt_text)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="totp_secret_encrypted",
            field=models.TextField(blank=True, default=""),
            preserve_default=False,
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
        migrations.RemoveField(
            model_name="user",
            name="totp_secret",
        ),
    ]
