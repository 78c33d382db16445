"""Recovery codes stored as an HMAC under the server's SECRET_KEY instead of a bare
SHA-256 (issue 13): a copy of the database alone no longer lets anyone test guesses.

The HMAC is taken over the user's id and the code's SHA-256, so the stored SHA-256
values convert without knowing the codes. Reversing cannot recover the bare hashes:
after a rollback recovery codes stop working until the user makes new ones (TOTP is
unaffected)."""

from django.db import migrations


def hmac_existing_codes(apps, schema_editor):
    from django.utils.crypto import salted_hmac

    from openkap.accounts.services import RECOVERY_CODE_SALT

    RecoveryCode = apps.get_model("accounts", "RecoveryCode")
    codes = list(RecoveryCode.objects.only("id", "user_id", "code_hash"))
    for code in codes:
        inner = f"{code.user_id}:{code.code_hash}"
        code.code_hash = salted_hmac(RECOVERY_CODE_SALT, inner, algorithm="sha256").hexdigest()
    RecoveryCode.objects.bulk_update(codes, ["code_hash"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_encrypt_totp_secrets")]

    operations = [migrations.RunPython(hmac_existing_codes, migrations.RunPython.noop)]
