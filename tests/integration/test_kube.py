"""The `claude_pool.kube` wrapper against a real apiserver: reading one ConfigMap or Secret key."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from claude_pool.kube.client import Kube, load_api_client

pytestmark = pytest.mark.integration

LARGE = ("a prompt line of about sixty characters, repeated many times\n" * 15_000).encode()


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[Kube]:
    wrapper = Kube(load_api_client(str(kubeconfig)), workers=2)
    yield wrapper
    wrapper.close()


def test_read_config_key_reads_data_binary_data_and_secrets_and_none_when_missing(
    api_client: client.ApiClient, namespace: str, kube: Kube
) -> None:
    assert 800_000 < len(LARGE) < 1_048_576
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="prompts"),
            data={"large": LARGE.decode()},
            binary_data={"bin": base64.b64encode("héllo".encode()).decode()},
        ),
    )
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="secret"), string_data={"p": "hush"}),
    )

    async def reads() -> list[bytes | None]:
        return [
            await kube.read_config_key("ConfigMap", namespace, "prompts", "large"),
            await kube.read_config_key("ConfigMap", namespace, "prompts", "bin"),
            await kube.read_config_key("Secret", namespace, "secret", "p"),
            await kube.read_config_key("ConfigMap", namespace, "prompts", "absent"),
            await kube.read_config_key("Secret", namespace, "absent", "p"),
        ]

    large, binary, secret, no_key, no_object = asyncio.run(reads())
    assert large == LARGE
    assert binary == "héllo".encode()
    assert secret == b"hush"
    assert no_key is None
    assert no_object is None
