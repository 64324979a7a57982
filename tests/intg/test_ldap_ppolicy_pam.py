"""The LDAP password policy response (slapd's ppolicy overlay) through PAM:
an expiry warning after a good login, and grace logins that authenticate,
say how many are left and make acct_mgmt ask for a new password. (Locked
accounts and admin resets: test_ldap_auth.py.)
"""

import contextlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from fixtures import procs
from fixtures.slapd import Slapd, standard_users
from fixtures.vigil import Vigil
from test_krb5 import PAM as KRB5_PAM, pam_run

PAM = {**KRB5_PAM, "ACCT_EXPIRED": 13}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="PAM logins as the directory's users: root only")

SUFFIX = "dc=example,dc=com"
WARNED = f"cn=warned,ou=Policies,{SUFFIX}"
GRACED = f"cn=graced,ou=Policies,{SUFFIX}"
PASSWORDS = {name: entry["userPassword"][0] for name, entry in standard_users().items()}


@pytest.fixture
def ppolicy_slapd(tmp_path):
    """Default policy: passwords live 3 days, with a warning all along;
    a second one: 2 seconds, then 2 grace logins."""
    server = Slapd(tmp_path / "slapd", ppolicy=WARNED, tls=False)
    server.load_standard_data()
    server.load_ldif(f"dn: ou=Policies,{SUFFIX}\nobjectClass: organizationalUnit\nou: Policies\n\n"
                     f"dn: {WARNED}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: warned\n"
                     "pwdAttribute: userPassword\npwdMaxAge: 259200\npwdExpireWarning: 864000\n\n"
                     f"dn: {GRACED}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: graced\n"
                     "pwdAttribute: userPassword\npwdMaxAge: 2\npwdGraceAuthNLimit: 2\n")
    server.start()
    yield server
    server.stop()


def set_password(server, uid, password, policy=None):
    """As the admin: the overlay stamps pwdChangedTime (slapadd did not)."""
    dn = f"uid={uid},ou=People,{SUFFIX}"
    text = f"dn: {dn}\nchangetype: modify\nreplace: userPassword\nuserPassword: {password}\n"
    if policy:
        text += f"-\nreplace: pwdPolicySubentry\npwdPolicySubentry: {policy}\n"
    server.modify_ldif(text)


@contextlib.contextmanager
def running_vigil(builddir, server):
    workdir = Path(tempfile.mkdtemp(prefix="vigil-ppolicy-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    v = Vigil(workdir / "vigil", builddir, extra={"vigil": ["services = nss, pam"], "domain/LDAP": [
        f"ldap_uri = {server.uri}", f"ldap_search_base = {SUFFIX}", "min_id = 1000",
        "ldap_auth_disable_tls_never_use_in_production = true", "cache_credentials = true"]})
    try:
        v.start_supervised(("nss", "pam"))
        yield v
    finally:
        v.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_password_about_to_expire_logs_in_with_a_warning(builddir, ppolicy_slapd, tmp_path):
    set_password(ppolicy_slapd, "alice", PASSWORDS["alice"])
    with running_vigil(builddir, ppolicy_slapd) as v:
        res = pam_run(tmp_path, builddir, v, "alice", [("authenticate", PAM["SUCCESS"]), ("account", PAM["SUCCESS"])],
                      [PASSWORDS["alice"]])
        assert res["ok"], res
        assert res["info"] == ["Your password will expire in 3 day(s)."], res


def test_a_grace_login_authenticates_and_then_a_new_password_is_required(builddir, ppolicy_slapd, tmp_path):
    with running_vigil(builddir, ppolicy_slapd) as v:
        # A login under the default policy keeps bob's password for offline use.
        set_password(ppolicy_slapd, "bob", PASSWORDS["bob"])
        assert pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["bob"]])["ok"]
        procs.wait_until(lambda: "cached password: stored" in v.vigilctl("user-show", "bob").stdout, 20,
                         "bob's password to be cached")
        set_password(ppolicy_slapd, "bob", PASSWORDS["bob"], policy=GRACED)
        time.sleep(3)  # past pwdMaxAge (a wait of a bound, not a timing assertion)
        res = pam_run(tmp_path, builddir, v, "bob",
                      [("authenticate", PAM["SUCCESS"]), ("account", PAM["NEW_AUTHTOK_REQD"])], [PASSWORDS["bob"]])
        assert res["ok"], res
        assert res["info"] == ["Your password has expired: 1 grace login(s) left. Change it now."], res
        assert res["errors"] == ["Your password has expired: change it now."], res
        res = pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["SUCCESS"])], [PASSWORDS["bob"]])
        assert res["ok"] and res["info"] == ["Your password has expired: 0 grace login(s) left. Change it now."], res
        # No grace left: slapd refuses the bind and says the (right)
        # password has expired. bob cannot bind any more, so cannot change
        # it either: the account is expired until an administrator resets it,
        # and a password change says so before asking for a new password.
        no_grace = "Your password has expired and no grace login is left: ask an administrator to reset it."
        res = pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["ACCT_EXPIRED"])], [PASSWORDS["bob"]])
        assert res["ok"] and res["errors"] == [no_grace], res
        # (as login does for an expired password: PAM_CHANGE_EXPIRED_AUTHTOK)
        res = pam_run(tmp_path, builddir, v, "bob", [("chauthtok", PAM["PERM_DENIED"], 0x20)],
                      [PASSWORDS["bob"], "Graced-New-Passw0rd", "Graced-New-Passw0rd"])
        assert res["ok"] and no_grace in res["errors"], res
        # What the directory keeps out, an offline login must not let in.
        assert "cached password: none" in v.vigilctl("user-show", "bob").stdout
        # A wrong password is still wrong.
        assert pam_run(tmp_path, builddir, v, "bob", [("authenticate", PAM["AUTH_ERR"])], ["not-bobs"])["ok"]
