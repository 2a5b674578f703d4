"""A local Hugging Face Hub stand-in that the real `huggingface_hub` client talks to, unmodified.

Point the client at it with `HF_ENDPOINT=<url>` and `HF_HUB_DISABLE_XET=1` (it speaks LFS, not Xet). It
implements the calls a publish makes, the way the Hub answers them: whoami, repo create (private
repos too), repo info, preupload (lfs or regular per file), the LFS batch API with upload and verify
(the sha256 of every upload is checked), the ndjson commit applied all or nothing with `parentCommit`
checks (412), branches, tags and PR refs (`refs/pr/N`), tree listing with LFS oids and sizes, paths
info, file resolve (HEAD and ranged GET, so `snapshot_download` works) and `validate-yaml`. Tokens
are checked: 401 for an unknown token, 403 without write access to another owner, 404 for an owner
that does not exist. Faults (see faults.py) are injected from tests, or over HTTP at `/_admin/faults`.

By hand, from the repository root:

    python -m tests.support.hub_server --port PORT --data DIR [--user U] [--token T] [--org ORG ...]

prints its URL, then a line with the token of the user, and serves until killed. `--data` keeps repos
and objects across restarts. `--user` names the account the printed token belongs to (default `user`);
`--token` sets that token (default: a new random one in the Hub's format); `--org`, repeatable, adds an
organization that user can write to.

Modules: server.py (HubServer), handler.py (HTTP plumbing, faults, routing), one module of routes per
protocol area (accounts_api, repos_api, refs_api, files_api, commit_api, lfs_api, admin_api), state.py,
commits.py, objects.py and model.py (what the server holds), cards.py (front matter), faults.py.
"""

from tests.support.hub_server.cards import front_matter
from tests.support.hub_server.server import HubServer, new_token

__all__ = ["HubServer", "front_matter", "new_token"]
