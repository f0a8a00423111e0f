import environ
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from audit.roles import RoleNameError, site_role_grants, site_role_problems


class Command(BaseCommand):
    help = (
        "On PostgreSQL with two roles (MIGRATE_DATABASE_URL set beside DATABASE_URL): as the "
        "migrating role, grant the site's role what it needs and no more, then check that it "
        "can't change or remove audit events, drop their triggers or create objects. The "
        "Procfile's release runs it after migrate; with one role, or on SQLite, it does "
        "nothing. --sql prints the statements instead of running them."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--sql", action="store_true", help="Print the statements; change nothing."
        )

    def handle(self, *args, **options) -> None:
        if connection.vendor != "postgresql":
            self.stdout.write(f"Nothing to grant: the site runs on {connection.vendor}.")
            return
        site_role = connection.settings_dict["USER"]
        owner_url = settings.MIGRATE_DATABASE_URL
        owner_role = environ.Env.db_url_config(owner_url)["USER"] if owner_url else site_role
        if owner_role == site_role:
            self.stdout.write(
                f"Nothing to grant: one role ({site_role}) runs and migrates the site. Set "
                "MIGRATE_DATABASE_URL to migrate as another (docs/audit.md, 'Database roles')."
            )
            return
        try:
            statements = site_role_grants(site_role=site_role, owner_role=owner_role)
        except RoleNameError as error:
            raise CommandError(str(error), returncode=2) from error
        if options["sql"]:
            for statement in statements:
                self.stdout.write(f"{statement};")
            return
        try:
            with psycopg.connect(owner_url, connect_timeout=5) as owner, owner.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                problems = site_role_problems(cursor, site_role=site_role, owner_role=owner_role)
        except psycopg.Error as error:
            raise CommandError(
                f"Granting as {owner_role} failed: {str(error).strip()}", returncode=1
            ) from error
        if problems:
            raise CommandError(
                "The site's role can still change the audit log:\n  " + "\n  ".join(problems),
                returncode=1,
            )
        self.stdout.write(
            f"{site_role} may use the tables but can't change or remove audit events, drop "
            f"their triggers or create objects; {owner_role} migrates."
        )
