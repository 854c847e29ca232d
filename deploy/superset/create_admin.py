"""Creates Superset's admin, or resets its password, from the environment (superset-init runs it).

``superset fab create-admin --password ...`` would put the password on a command line, where
every process on the host can read it (/proc/<pid>/cmdline). This reads it from
SUPERSET_ADMIN_PASSWORD instead. Idempotent: rerun it to rotate the password.
"""

import os
import sys


def main() -> int:
    username = os.environ.get("SUPERSET_ADMIN_USERNAME", "admin")
    password = os.environ.get("SUPERSET_ADMIN_PASSWORD", "")
    email = os.environ.get("SUPERSET_ADMIN_EMAIL", "admin@example.invalid")
    if not password:
        print("create_admin: SUPERSET_ADMIN_PASSWORD is not set", file=sys.stderr)
        return 2
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager

        user = security_manager.find_user(username=username)
        if user is None:
            role = security_manager.find_role(security_manager.auth_role_admin)
            if not security_manager.add_user(username, "Admin", "TripClick", email, role, password=password):
                print(f"create_admin: could not create {username}", file=sys.stderr)
                return 1
            print(f"create_admin: created {username}")
        else:
            security_manager.reset_password(user.id, password)
            print(f"create_admin: password of {username} reset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
