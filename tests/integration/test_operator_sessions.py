"""sessionPolicy with the real CLI: resumeSlot continues the slot's last session, fresh does not."""

from __future__ import annotations

import json

from tests.integration.harness import Env


def prompts_sent(env: Env) -> list[str]:
    """The text of every messages request the fake API received, in order."""
    return [
        json.dumps(r.body.get("messages", []))
        for r in env.fake.requests
        if r.kind == "messages" and isinstance(r.body, dict)
    ]


def test_resume_slot_continues_the_slots_last_session_and_fresh_does_not(env: Env) -> None:
    env.create_pool(slots=1, claude={"sessionPolicy": "resumeSlot"})
    env.wait_ready_slots(1)
    env.create_task("first", prompt="remember the word pineapple [[fake in=10 out=5]]")
    first = env.wait_phase("first")["status"]
    assert first["phase"] == "Succeeded", first
    env.fake.clear_requests()
    env.create_task("second", prompt="which word? [[fake in=10 out=5]]")
    second = env.wait_phase("second")["status"]
    assert second["phase"] == "Succeeded", second
    assert any("pineapple" in p for p in prompts_sent(env)), prompts_sent(env)
    env.fake.clear_requests()
    env.create_task(
        "third", prompt="and now? [[fake in=10 out=5]]", config={"sessionPolicy": "fresh"}
    )
    third = env.wait_phase("third")["status"]
    assert third["phase"] == "Succeeded", third
    sent = prompts_sent(env)
    assert sent and not any("pineapple" in p for p in sent), sent
