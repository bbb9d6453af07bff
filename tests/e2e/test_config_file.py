"""`temper server start --config temper.toml`: the settings of a TOML file (port, TLS, tokens,
audit log) start a secured server that the SDK reaches with TLS and a token; flags on the
command line win over the file; an unknown setting stops the server with its name."""

import json
import subprocess
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.client import Client, TLSConfig

from conftest import TEMPER_BIN, TemperServer, free_port
from test_authorization import jwk
from test_tls import make_ca, make_leaf


async def test_a_secured_server_from_a_file(tmp_path):
    make_ca(tmp_path, "server-ca")
    make_leaf(tmp_path, "server-ca", "server", server=True)
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk(key.public_key(), "k1")]}))
    port = free_port()
    (tmp_path / "temper.toml").write_text(f"""
port = 1
audit_log = true

[tls]
cert_path = "{tmp_path / 'server.pem'}"
key_path = "{tmp_path / 'server.key'}"

[auth]
jwks_path = "{tmp_path / 'jwks.json'}"
""")
    server = TemperServer(None, tmp_path / "temper.log", mode_args=[
        "server", "start", "--config", str(tmp_path / "temper.toml"), "--data-dir", str(tmp_path / "data")])
    server.port = port  # the command line's --port (added by TemperServer) wins over the file's
    server.start()
    try:
        token = jwt.encode({"sub": "ops", "permissions": ["default:write"], "exp": int(time.time()) + 300}, key,
                           algorithm="ES256", headers={"kid": "k1"})
        tls = TLSConfig(server_root_ca_cert=(tmp_path / "server-ca.pem").read_bytes(), domain="localhost")
        client = await Client.connect(server.target, tls=tls, api_key=token)
        handle = await client.start_workflow("NoSuchWorkflow", id="from-config", task_queue="nowhere")
        await handle.terminate()
        log = (tmp_path / "temper.log").read_text()
        assert 'rpc="StartWorkflowExecution"' in log and 'subject="ops"' in log
    finally:
        server.stop()


def test_an_unknown_setting_is_named(tmp_path):
    (tmp_path / "temper.toml").write_text("[tls]\ncert = 'x'\n")
    result = subprocess.run([str(TEMPER_BIN), "server", "start", "--config", str(tmp_path / "temper.toml")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "unknown setting `tls.cert`" in result.stderr
