"""JupyterHub for the course on one machine: local system users, nbgrader's exchange.

Start it as root from the repository (``make hub``; the users must exist, see
``hub/users.sh``). Settings come from the environment, so that the end-to-end test and
an instructor's trial run use this same file:

    TAI_HUB_IP, TAI_HUB_PORT   where the hub listens (127.0.0.1, 8000)
    TAI_HUB_INTERNAL_PORT, TAI_HUB_PROXY_API_PORT   its internal ports (8081, 8001)
    TAI_HUB_STATE              folder for the hub's database, cookie secret and logs
                               (hub/state)
    TAI_HUB_INSTRUCTOR         the instructor's user name (instructor)
    TAI_HUB_STUDENTS           the students' user names, comma-separated
    TAI_HUB_PASSWORD           the shared password of this trial setup (DummyAuthenticator)
    TAI_HUB_API_TOKEN          optional: a token for the "course-admin" service (scripts)
    TAI_COURSE_ID, TAI_EXCHANGE  read by hub/config/common/nbgrader_config.py

For a real course, replace the DummyAuthenticator with your institution's login
(OAuth: ``oauthenticator``; an LMS: ``ltiauthenticator``) -- configuration only, see
the instructor guide.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE = Path(os.environ.get("TAI_HUB_STATE", HERE / "state"))
STATE.mkdir(parents=True, exist_ok=True)
INSTRUCTOR = os.environ.get("TAI_HUB_INSTRUCTOR", "instructor")
STUDENTS = [s for s in os.environ.get("TAI_HUB_STUDENTS", "").split(",") if s]
ENV_BIN = Path(sys.executable).parent  # the kit's environment: jupyterhub-singleuser, nbgrader

c = get_config()  # noqa: F821  (injected by traitlets when it loads this file)

c.JupyterHub.ip = os.environ.get("TAI_HUB_IP", "127.0.0.1")
c.JupyterHub.port = int(os.environ.get("TAI_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("TAI_HUB_INTERNAL_PORT", "8081"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ.get('TAI_HUB_PROXY_API_PORT', '8001')}"
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(HERE / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops the students' servers

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("TAI_HUB_PASSWORD", "")
c.Authenticator.allowed_users = set(STUDENTS) | {INSTRUCTOR}
c.Authenticator.admin_users = {INSTRUCTOR}

# Each user's server runs as that local system user, from the kit's environment.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(ENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def role_config(spawner):
    """Students see the assignment list only; the instructor also gets the formgrader and
    the assignment editor (hub/config/student switches those off for students)."""
    common = HERE / "config" / "common"
    folders = [common] if spawner.user.name == INSTRUCTOR else [HERE / "config" / "student", common]
    spawner.environment.update({
        "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, folders)),
        "PATH": f"{ENV_BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "TAI_COURSE_ID": os.environ.get("TAI_COURSE_ID", "trustworthy-ai"),
        "TAI_EXCHANGE": os.environ.get("TAI_EXCHANGE", "/srv/nbgrader/exchange"),
        "OMP_NUM_THREADS": "1",
    })


c.Spawner.pre_spawn_hook = role_config

token = os.environ.get("TAI_HUB_API_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "course-admin", "api_token": token}]
    c.JupyterHub.load_roles = [{
        "name": "course-admin",
        "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
        "services": ["course-admin"],
    }]
