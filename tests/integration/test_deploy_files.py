"""The files in deploy/ describe an installation that can work: they parse, they run commands
the ``billport`` CLI accepts and the docs describe, and they hold no secret."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from portal.app import MAX_BODY_BYTES
from portal.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SECRET_VARIABLES = {
    "BILLPORT_SECRET_KEY",
    "BILLPORT_ENCRYPTION_KEYS",
    "BILLPORT_OPERATOR_TOKEN",
    "BILLPORT_OIDC_CLIENT_SECRET",
    "POSTGRES_PASSWORD",
}
REQUIRED_SECRETS = {"BILLPORT_SECRET_KEY", "BILLPORT_ENCRYPTION_KEYS", "POSTGRES_PASSWORD"}
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z_]+)(?P<op>:[-?])?(?P<rest>[^}]*)\}$")
FERNET_KEY = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=")


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def documented_variables() -> set[str]:
    return set(
        re.findall(r"`(BILLPORT_[A-Z_]+)`", (ROOT / "docs" / "configuration.md").read_text())
    )


def docs_text() -> str:
    return "\n".join(
        path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    )


def kubernetes_documents() -> list[tuple[str, dict[str, Any]]]:
    documents = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((path.name, document))
    return documents


def kubernetes_object(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in kubernetes_documents() if d["kind"] == kind]
    matching = [d for d in found if d["metadata"]["name"] == name]
    assert len(matching) == 1, f"one {kind} {name} expected among {found}"
    return matching[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    instructions = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def exec_form(argument: str) -> list[str]:
    if argument.startswith("["):
        return list(json.loads(argument))
    return shlex.split(argument)


def billport_commands(argv: list[str]) -> list[list[str]]:
    """Every ``billport …`` invocation in an argument vector or a shell command line."""
    if len(argv) >= 3 and argv[0] in ("sh", "/bin/sh", "bash") and argv[1] == "-c":
        argv = shlex.split(argv[2])
    commands: list[list[str]] = []
    current: list[str] | None = None
    at_start = True
    for word in argv:
        if word in ("&&", "||", ";", "|"):
            current, at_start = None, True
            continue
        if at_start and (word == "billport" or word.endswith("/bin/billport")):
            current = []
            commands.append(current)
        elif current is not None:
            current.append(word)
        at_start = False
    return commands


def assert_accepted_and_documented(args: list[str], where: str) -> None:
    try:
        build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"{where}: `billport {' '.join(args)}` is refused by the CLI ({exc})")
    words = [a for a in args if not a.startswith("-")]
    subcommand = " ".join(words[:2] if words[:1] == ["db"] else words[:1])
    assert f"billport {subcommand}" in docs_text(), f"{where}: billport {subcommand} undocumented"
    for flag in (a.split("=")[0] for a in args if a.startswith("--")):
        assert flag in (ROOT / "docs" / "cli.md").read_text(), f"{where}: {flag} undocumented"


# -- compose ---------------------------------------------------------------------------------


def test_compose_has_the_whole_topology() -> None:
    found = services()
    assert {"postgres", "migrate", "portal", "worker", "nginx"} <= set(found)

    postgres = found["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert postgres["healthcheck"]["test"]
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose()["volumes"], "PostgreSQL keeps its data in a named volume"

    assert found["migrate"]["command"] == ["billport", "db", "upgrade"]
    assert found["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("portal", "worker"):
        service = found[name]
        assert service["deploy"]["replicas"] == 2
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert found["worker"]["command"] == ["billport", "worker"]
    assert found["worker"]["healthcheck"] == {"disable": True}

    # nginx is the single entry point: nothing else publishes a port.
    assert [name for name, s in found.items() if s.get("ports")] == ["nginx"]
    assert found["nginx"]["depends_on"]["portal"]["condition"] == "service_healthy"


def test_compose_commands_are_real_billport_commands() -> None:
    for name, service in services().items():
        command = service.get("command")
        if command is None or service.get("image", "").startswith(("postgres", "nginx")):
            continue
        argv = command if isinstance(command, list) else shlex.split(command)
        invocations = billport_commands([str(a) for a in argv])
        assert invocations, f"{name} runs no billport command"
        for args in invocations:
            assert_accepted_and_documented(args, f"compose service {name}")


def test_the_portal_trusts_forwarded_headers_from_nginx_only() -> None:
    found = services()
    portal = build_parser().parse_args(found["portal"]["command"][1:])
    assert portal.no_worker and portal.host == "0.0.0.0" and portal.port == 8000
    nginx_address = found["nginx"]["networks"]["backend"]["ipv4_address"]
    assert portal.forwarded_allow_ips == nginx_address


def test_compose_environment_is_documented_and_holds_no_secret() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(re.findall(r"\bBILLPORT_[A-Z_]+\b", text))
    assert used, "the services are configured through BILLPORT_* variables"
    assert used <= documented_variables(), used - documented_variables()

    environments = [s.get("environment", {}) for s in services().values()]
    assert all(isinstance(env, dict) for env in environments)
    for env in environments:
        for name, value in env.items():
            if name in SECRET_VARIABLES:
                match = INTERPOLATION.match(str(value))
                assert match and match["name"] == name, f"{name} must come from the environment"
                if name in REQUIRED_SECRETS:
                    assert match["op"] == ":?", f"{name} must be required with ${{{name}:?…}}"
        url = env.get("BILLPORT_DATABASE_URL")
        if url:
            password = re.search(r"://[^:/@]+:([^@]+)@", url)
            assert password and INTERPOLATION.match(password[1]), "database password inlined"
    portal_env = services()["portal"]["environment"]
    assert portal_env["BILLPORT_ENV"] == "production"
    assert INTERPOLATION.match(portal_env["BILLPORT_PUBLIC_URL"])


def test_the_env_example_holds_no_secret_and_is_ignored() -> None:
    example = (DEPLOY / ".env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    assert REQUIRED_SECRETS <= set(values)
    for name in SECRET_VARIABLES & set(values):
        assert values[name] == "", f"{name} has a value in .env.example"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_no_deploy_file_contains_a_key() -> None:
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert not FERNET_KEY.search(path.read_text()), f"{path} contains a Fernet key"


# -- nginx -----------------------------------------------------------------------------------


def test_nginx_proxies_to_the_portal_port_with_the_portal_limits() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    port = build_parser().parse_args(services()["portal"]["command"][1:]).port
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, flags=re.S)
    assert upstream, "an upstream of the portal instances"
    assert re.search(rf"server\s+portal:{port}\b", upstream[2])
    assert f"proxy_pass http://{upstream[1]};" in conf
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"):
        assert re.search(rf"proxy_set_header\s+{header}\s", conf), header
    assert MAX_BODY_BYTES == 1024 * 1024
    assert re.search(r"client_max_body_size\s+1m;", conf)


# -- Dockerfile ------------------------------------------------------------------------------


def test_the_dockerfile_builds_a_slim_non_root_image() -> None:
    instructions = dockerfile_instructions()
    images = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    assert images and all(image == "python:3.11-slim" for image in images)
    assert any(k == "RUN" and "pip install ." in rest for k, rest in instructions)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", "8000") in instructions

    healthcheck = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert len(healthcheck) == 1
    argv = exec_form(healthcheck[0].split(" CMD ", 1)[1].strip())
    assert argv[:2] == ["python", "-c"] and "/healthz" in argv[2]
    compile(argv[2], "HEALTHCHECK", "exec")


def test_the_dockerfile_runs_real_billport_commands() -> None:
    instructions = dockerfile_instructions()
    commands = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert exec_form(commands[-1]) == [
        "billport",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--no-worker",
    ]
    for keyword, rest in instructions:
        if keyword in ("CMD", "ENTRYPOINT", "RUN"):
            for args in billport_commands(exec_form(rest)):
                assert_accepted_and_documented(args, f"Dockerfile {keyword}")
    # The commands the header comment tells operators to run work as well.
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        text = line.lstrip("#").strip()
        if line.startswith("#") and text.startswith("billport "):
            command = re.split(r"\s{2,}", text)[0]
            for invocation in billport_commands(shlex.split(command)):
                assert_accepted_and_documented(invocation, "Dockerfile comment")


# -- Kubernetes ------------------------------------------------------------------------------


def test_every_kubernetes_manifest_parses_with_its_identity() -> None:
    documents = kubernetes_documents()
    assert len(documents) >= 8
    for filename, document in documents:
        for field in ("apiVersion", "kind", "metadata"):
            assert document.get(field), f"{filename}: {document.get('kind')} lacks {field}"
        assert document["metadata"].get("name"), f"{filename}: unnamed {document['kind']}"
    kinds = {document["kind"] for _, document in documents}
    assert {
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "Ingress",
        "HorizontalPodAutoscaler",
    } <= kinds


def containers(deployment: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    return list(spec.get("initContainers" if init else "containers", []))


def test_the_portal_deployment_probes_migrates_and_runs_locked_down() -> None:
    deployment = kubernetes_object("Deployment", "billport-portal")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (portal,) = containers(deployment)
    ports = {p["name"]: p["containerPort"] for p in portal["ports"]}
    args = build_parser().parse_args(portal["command"][1:])
    assert portal["command"][0] == "billport" and args.port == 8000 and args.no_worker
    assert ports == {"http": 8000}
    assert portal["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert portal["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert portal["resources"]["requests"]["cpu"], "the autoscaler needs a CPU request"
    assert portal["securityContext"]["readOnlyRootFilesystem"] is True
    assert portal["securityContext"]["allowPrivilegeEscalation"] is False

    (migrate,) = containers(deployment, init=True)
    assert migrate["command"] == ["billport", "db", "upgrade"]
    for container in (portal, migrate):
        sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
        assert sources == {"billport"}
        assert_accepted_and_documented(container["command"][1:], container["name"])


def test_the_worker_deployment_runs_billport_worker_without_a_service() -> None:
    deployment = kubernetes_object("Deployment", "billport-worker")
    assert deployment["spec"]["replicas"] == 2
    (worker,) = containers(deployment)
    assert worker["command"] == ["billport", "worker"]
    assert_accepted_and_documented(worker["command"][1:], "worker")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for _, document in kubernetes_documents():
        if document["kind"] == "Service":
            selector = document["spec"]["selector"]
            assert not all(labels.get(k) == v for k, v in selector.items()), "a worker Service"


def test_service_ingress_and_autoscaler_point_at_the_portal() -> None:
    portal = kubernetes_object("Deployment", "billport-portal")
    labels = portal["spec"]["template"]["metadata"]["labels"]
    service = kubernetes_object("Service", "billport-portal")
    assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert service["spec"]["ports"][0]["targetPort"] == "http"

    ingress = kubernetes_object("Ingress", "billport")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "billport-portal"
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] in (
        "1m",
    )
    host = ingress["spec"]["rules"][0]["host"]
    config = kubernetes_object("ConfigMap", "billport")
    assert config["data"]["BILLPORT_PUBLIC_URL"] == f"https://{host}"

    autoscaler = kubernetes_object("HorizontalPodAutoscaler", "billport-portal")
    assert autoscaler["apiVersion"] == "autoscaling/v2"
    assert autoscaler["spec"]["scaleTargetRef"]["name"] == "billport-portal"
    assert autoscaler["spec"]["minReplicas"] >= 2
    (metric,) = autoscaler["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"


def test_kubernetes_configuration_is_documented_and_the_secret_is_a_template() -> None:
    config = kubernetes_object("ConfigMap", "billport")
    secret = kubernetes_object("Secret", "billport")
    names = set(config["data"]) | set(secret["stringData"])
    assert names <= documented_variables(), names - documented_variables()
    assert not SECRET_VARIABLES & set(config["data"]), "a secret in the ConfigMap"
    assert "BILLPORT_DATABASE_URL" in secret["stringData"]
    for name, value in secret["stringData"].items():
        assert value == "REPLACE-ME", f"{name} is not a placeholder"
    # A placeholder is refused at start: too short for a secret key, not a Fernet key.
    from portal.settings import ConfigurationError, load_settings

    with pytest.raises(ConfigurationError):
        load_settings({"BILLPORT_ENV": "production", **secret["stringData"]})
    kustomization = kubernetes_object("Kustomization", "billport")
    assert "secret.example.yaml" not in kustomization["resources"]
    listed = {path.name for path in KUBERNETES.glob("*.yaml")}
    assert set(kustomization["resources"]) <= listed


# -- documentation ---------------------------------------------------------------------------


def test_the_deployment_guide_is_linked_and_covers_the_files() -> None:
    guide = (ROOT / "docs" / "deploy.md").read_text()
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()
    assert "(deploy.md" in (ROOT / "docs" / "operations.md").read_text()
    for needle in (
        "deploy/Dockerfile",
        "deploy/compose.yaml",
        "deploy/nginx.conf",
        "deploy/kubernetes",
        "billport db upgrade",
        "billport worker",
        "billport doctor",
        "pg_dump",
        "BILLPORT_ENCRYPTION_KEYS",
        "--forwarded-allow-ips",
    ):
        assert needle in guide, needle
    subcommands = "|".join(subcommand_names())
    invocation = re.compile(rf"(?:^|[\s/])billport\s+((?:{subcommands})\b[^#]*?)\s*$")
    checked = 0
    for line in code_lines(guide, ("sh", "ini")):
        found = invocation.search(line)
        if found:
            checked += 1
            assert_accepted_and_documented(shlex.split(found[1]), f"docs/deploy.md: {line}")
    assert checked >= 5


def subcommand_names() -> list[str]:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(commands.choices)


def code_lines(markdown: str, languages: tuple[str, ...]) -> list[str]:
    """The lines of the fenced code blocks in these languages, continuation lines joined."""
    lines, language, pending = [], None, ""
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            language = None if language is not None else line.strip().strip("`") or "-"
        elif language in languages:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
            else:
                lines.append(pending + line)
                pending = ""
    return lines
