#!/usr/bin/python3
"""The demo, after contrib/demo.sh built vigil: a throwaway slapd with the
demo directory (contrib/demo/directory.ldif), vigild against it in a temp dir,
getent and initgroups answers for the demo users through libnss_vigil.so.2
(nss_wrapper: the machine's nsswitch.conf is not touched) and, as root, a PAM
login through pam_vigil.so (pamtester under pam_wrapper: /etc/pam.d is not
touched either); then the same with the directory stopped, served from the
cache, the login from the cached credentials. Usage: demo.py BUILDDIR"""

import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

top = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(top / "tests" / "intg"))

from fixtures import wrappers  # noqa: E402
from fixtures.slapd import Slapd  # noqa: E402
from fixtures.vigil import Vigil  # noqa: E402

USERS = ("ada", "grace", "linus")


def show(title, env, nss_call, module):
    print(f"\n== {title}")
    for user in USERS:
        out = subprocess.run(["getent", "passwd", user], env=env, capture_output=True, text=True, timeout=30)
        print(f"$ getent passwd {user}\n{out.stdout.strip() or '(exit %d)' % out.returncode}")
    out = subprocess.run(["getent", "group", "engineering"], env=env, capture_output=True, text=True, timeout=30)
    print(f"$ getent group engineering\n{out.stdout.strip()}")
    for user in USERS:
        res = wrappers.nss_call(nss_call, module, "vigil", "initgroups", user, 20000,
                                env=wrappers.sanitizer_env(module, base=env))
        print(f"initgroups({user}): {res.status} {res.lines[0] if res.lines else ''}")


PAM_USER, PAM_PASSWORD = "ada", "Ada-Demo-Passw0rd"


def pam_login(title, builddir, tmp, base, password):
    """pamtester authenticate + acct_mgmt for ada through pam_vigil.so. Root
    only: an ordinary caller may log in only as itself (the public socket)."""
    print(f"\n== {title}")
    if os.getuid() != 0:
        print("(skipped: a PAM login as another user needs root; run contrib/demo.sh as root)")
        return
    module = builddir / ".libs" / "pam_vigil.so"
    env = wrappers.pam_wrapper_env(tmp / "pamwrap", {"vigil-demo": [f"auth required {module}",
                                                                    f"account required {module}"]}, base=base)
    out = subprocess.run(["pamtester", "vigil-demo", PAM_USER, "authenticate", "acct_mgmt"], env=env,
                         input=password + "\n", capture_output=True, text=True, timeout=60)
    shown = "wrong password" if password != PAM_PASSWORD else "her password"
    print(f"$ echo ({shown}) | pamtester vigil-demo {PAM_USER} authenticate acct_mgmt")
    noise = "no default config other"  # pam_wrapper's own line: harmless
    text = (out.stdout + "\n" + out.stderr).replace("Password: ", "")  # the prompt pamtester answered
    print("\n".join(line for line in text.splitlines() if line.strip() and noise not in line))


def wait_for_cached_password(vigil, name, bound=20):
    """The hash is computed in a worker after the login: wait (bounded)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if "cached password: stored" in vigil.vigilctl("user-show", name).stdout:
            return
        time.sleep(0.1)


POLICY_HOST = "demo-host.demo.example"


def policy_ldif(base):
    """The demo's host, host group and sudoRole (contrib/demo/policies.ldif),
    and a vigilPolicy entry for each contrib/demo/policy-*.xml."""
    text = (top / "contrib" / "demo" / "policies.ldif").read_text() + "\n"
    for name, priority, applies in (("workstation-base", 10,
                                     f"vigilPolicyHostGroup: cn=workstations,ou=hostgroups,{base}"),
                                    ("no-root-shells", 90, f"vigilPolicyHost: {POLICY_HOST}")):
        doc = (top / "contrib" / "demo" / f"policy-{name}.xml").read_text()
        text += (f"dn: cn={name},ou=policies,{base}\nobjectClass: vigilPolicy\ncn: {name}\n"
                 f"vigilPolicyType: sudo\nvigilPolicyPriority: {priority}\n{applies}\n"
                 f"vigilPolicyDocument:: {base64.b64encode(doc.encode()).decode()}\n\n")
    return text


def wait_for_policy(vigil, target, bound=30):
    """The refresh at start: done once the status names the sudo type."""
    status = vigil.state_dir / "policy" / "status"
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if status.exists() and "[sudo]" in status.read_text() and target.exists():
            return
        time.sleep(0.1)
    raise SystemExit(f"demo: no policy installed within {bound}s:\n{vigil.log('vigil_policy')}")


def show_policy(vigil, target):
    print(f"\n== policy: vigil_policy found this host's policies, merged them by priority, rendered "
          f"sudoers, had visudo check it and installed it at {target} (a temp dir: /etc is never touched)")
    print(target.read_text().rstrip())
    print("\n== vigilctl policy status")
    print(vigil.vigilctl("policy", "status").stdout.rstrip())


def main():
    builddir = Path(sys.argv[1]).resolve()
    module = builddir / ".libs" / "libnss_vigil.so.2"
    nss_call = builddir / "tests" / "tools" / "nss_call"
    with tempfile.TemporaryDirectory(prefix="vigil-demo-") as tmp:
        tmp = Path(tmp)
        # TLS (ldaps://, a throwaway CA): passwords never cross plain LDAP.
        schemas = (top / "contrib/ldap/vigil-policy.schema", top / "tests/intg/data/sudo.schema")
        server = Slapd(tmp / "slapd", suffix="dc=demo,dc=example", tls=True, loglevel="none",
                       extra_schemas=schemas)
        server.load_ldif((top / "contrib" / "demo" / "directory.ldif").read_text())
        server.load_ldif(policy_ldif(server.base_dn))
        server.start()
        print(f"== the demo directory: slapd on {server.ldaps_uri} (base {server.base_dn})")
        (tmp / "sudoers.d").mkdir()
        sudoers = tmp / "sudoers.d" / "vigil"
        vigil = Vigil(tmp / "vigil", builddir, domains=("demo",), extra={
            "vigil": ["services = nss, pam, policy"],
            "policy": [f"policy_host_fqdn = {POLICY_HOST}", f"policy_data_dir = {top / 'data/policy'}",
                       f"policy_sudo_target = {sudoers}"],
            "domain/demo": [f"ldap_uri = {server.ldaps_uri}", f"ldap_tls_cacert = {server.ca_cert}",
                            f"ldap_search_base = {server.base_dn}", "offline_timeout = 30",
                            "auth_provider = ldap", "cache_credentials = true"]})
        try:
            vigil.start_supervised(("nss", "pam", "policy"))
            print("\n== vigilctl status")
            print(vigil.vigilctl("status").stdout.rstrip())
            base = dict(os.environ, VIGIL_PIPES_DIR=str(vigil.state_dir / "pipes"), VIGIL_PEER_UID=str(os.getuid()))
            env = wrappers.nss_wrapper_env(tmp / "nsswrap", module, base=base)
            show("online: answers come from the directory through the cache", env, nss_call, module)
            pam_login("online: a PAM login, the directory checks the password (and it is kept, hashed, for "
                      "offline logins)", builddir, tmp, base, PAM_PASSWORD)
            wait_for_cached_password(vigil, PAM_USER)
            print("\n== vigilctl domain-status demo")
            print(vigil.vigilctl("domain-status", "demo").stdout.rstrip())
            wait_for_policy(vigil, sudoers)
            show_policy(vigil, sudoers)
            server.stop()
            print("\n== the directory is stopped, and every cache entry marked expired")
            print(vigil.vigilctl("cache-expire", "--everything").stdout.rstrip())
            show("offline: the provider cannot reach the directory; the same answers, from the cache",
                 env, nss_call, module)
            pam_login("offline: the same login, from the cached credentials", builddir, tmp, base, PAM_PASSWORD)
            pam_login("offline: a wrong password is refused (and counted toward the offline lockout)",
                      builddir, tmp, base, "not-" + PAM_PASSWORD)
            print("\n== vigilctl domain-status demo")
            print(vigil.vigilctl("domain-status", "demo").stdout.rstrip())
            print("\n== vigilctl user-show ada")
            print(vigil.vigilctl("user-show", "ada").stdout.rstrip())
        finally:
            vigil.stop_all()
            server.stop()
        print("\n== stopped: vigild, its services and slapd are gone")


if __name__ == "__main__":
    main()
