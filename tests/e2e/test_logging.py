"""What a person starting the server sees: the start-up banner (server, HTTP API and metrics
addresses, as Temporal's dev server prints them), log lines without colour codes when
standard error is not a terminal, the three log formats, and `RUST_LOG` filters."""

import json
import os
import re
import subprocess
import time
import urllib.request

from conftest import TEMPER_BIN, free_port


def run_briefly(args: list[str], env: dict | None = None, seconds: float = 1.5) -> tuple[str, str]:
    """Starts temper with `args` on a free port, lets it serve a moment, stops it; returns
    its standard output and standard error."""
    port = free_port()
    process = subprocess.Popen([str(TEMPER_BIN), "server", "start-dev", "--port", str(port), "--headless", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    time.sleep(seconds)
    process.terminate()
    out, err = process.communicate(timeout=15)
    return out.decode(), err.decode()


def test_the_banner_names_the_server_http_and_metrics_addresses():
    metrics_port, http_port = free_port(), free_port()
    port = free_port()
    process = subprocess.Popen([str(TEMPER_BIN), "server", "start-dev", "--port", str(port), "--headless",
                                "--metrics-port", str(metrics_port), "--http-port", str(http_port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        lines = [process.stdout.readline().decode() for _ in range(5)]
        assert lines[0].startswith("Temper ")
        assert f"Server:  127.0.0.1:{port}\n" in lines
        assert f"HTTP:    http://127.0.0.1:{http_port}\n" in lines
        assert f"Metrics: http://127.0.0.1:{metrics_port}/metrics\n" in lines
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            body = response.read()
            assert b"temper_cached_runs" in body and b"temper_cached_run_bytes" in body
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_without_metrics_or_http_ports_start_dev_picks_free_ones():
    out, _ = run_briefly([])
    match = re.search(r"Metrics: http://127\.0\.0\.1:(\d+)/metrics", out)
    assert match and int(match.group(1)) > 0
    match = re.search(r"HTTP:    http://127\.0\.0\.1:(\d+)\n", out)
    assert match and int(match.group(1)) > 0


def test_logs_have_no_colour_codes_off_a_terminal_and_formats_differ():
    _, text = run_briefly(["--log-format", "text"])
    assert "serving" in text and "\x1b[" not in text
    _, pretty = run_briefly(["--log-format", "pretty"])
    assert "serving" in pretty and "\x1b[" not in pretty and pretty.count("\n") > text.count("\n")
    _, as_json = run_briefly(["--log-format", "json"])
    lines = [json.loads(line) for line in as_json.splitlines() if line.strip()]
    assert any(line["fields"]["message"] == "serving" for line in lines)


def test_rust_log_filters_are_honoured():
    _, quiet = run_briefly([], env={"RUST_LOG": "warn"})
    assert "serving" not in quiet
    _, chosen = run_briefly(["--log-level", "warn"], env={"RUST_LOG": "temper_server=info"})
    assert "serving" in chosen
