"""The product end to end, with real processes: master, host agent, example game server, players."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from hosts.models import Host
from regions.models import Region
from rooms.models import Room, Slot
from tests.hosts.processes import Player, marked_pids, pid_alive, wait_for
from tests.rooms.factories import room_body

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]


def connected_host(region: str = "local") -> Host | None:
    return Host.objects.filter(region__name=region, connected=True).first()


def test_create_then_a_player_joins_with_the_key_and_leaves(cluster, region, version, chat):
    master = cluster.master()
    cluster.agent(master)
    wait_for(connected_host, what="the agent")

    status, body, _ = master.post("/create/demo/1.0/default", settings={"map": "dust"})

    assert status == 200, body
    room = Room.objects.get()
    slot = Slot.objects.get()
    assert (room.settings, room.max_players, room.host.address) == ({"map": "dust"}, 8, "127.0.0.1")
    assert body == {**room_body(room, 1), "slot": str(slot.pk), "key": body["key"]}
    assert len(room.ports) == 1
    assert (room.state, slot.account, slot.state) == (Room.RUNNING, "alice", Slot.RESERVED)

    player = Player(body["location"], body["key"])
    assert player.line() == "WELCOME alice"
    assert Slot.objects.get().state == Slot.JOINED

    stranger = Player(body["location"], "made-up-key")
    assert stranger.line() == "ERROR Unknown key."
    assert stranger.line() == ""  # closed
    stranger.close()

    player.close()
    wait_for(lambda: not Slot.objects.exists(), what="`left` to free the slot")
    assert Room.objects.get().state == Room.RUNNING


def test_create_multi_gives_each_account_a_key_that_works_once(cluster, region, version, chat):
    master = cluster.master()
    cluster.agent(master)
    wait_for(connected_host, what="the agent")

    status, body, _ = master.post(
        "/create/multi/demo/1.0/default", account="lobby", scopes=["game", "game_multi"], accounts=["1", "2", "3", 4]
    )

    assert status == 200, body
    room = Room.objects.get()
    slots = {slot.account: slot for slot in Slot.objects.all()}
    assert body == {
        "id": str(room.pk),
        "settings": {},
        "slots": {
            account: {"slot": str(slots[account].pk), "key": body["slots"][account]["key"]} for account in "1234"
        },
        "location": {"host": "127.0.0.1", "ports": room.ports},
    }
    keys = [body["slots"][account]["key"] for account in "1234"]
    assert len(set(keys)) == 4
    players = []
    for account, key in zip("1234", keys, strict=True):
        player = Player(body["location"], key)
        assert player.line() == f"WELCOME {account}"
        players.append(player)
    again = Player(body["location"], keys[0])
    assert again.line() == "ERROR This key was used already."
    assert set(Slot.objects.values_list("state", flat=True)) == {Slot.JOINED}
    for player in [again, *players]:
        player.close()


def test_a_game_server_that_never_inits_answers_503_and_leaves_nothing(cluster, region, version, configuration):
    configuration.command = sys.executable
    configuration.arguments = ["-c", "import time; time.sleep(600)", "sleeper-{room_id}"]
    configuration.spawn_timeout = 2
    configuration.save()
    master = cluster.master()
    cluster.agent(master)
    wait_for(connected_host, what="the agent")

    started = time.monotonic()
    status, body, _ = master.post("/create/demo/1.0/default")
    elapsed = time.monotonic() - started

    assert status == 503
    assert body == {"code": "spawn_timeout", "detail": "The game server did not become ready within 2 seconds."}
    assert 2 <= elapsed < 4
    assert not Room.objects.exists()
    assert not Slot.objects.exists()
    wait_for(lambda: not [pid for pid in marked_pids(cluster.marker) if sleeper(pid)], 5, "the process to stop")


def sleeper(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"sleeper-" in cmdline.read()
    except OSError:
        return False


def test_no_host_in_the_region_answers_503_at_once(cluster, region, version, chat):
    Region.objects.create(name="far", x=100, y=10)
    master = cluster.master()
    cluster.agent(master, region="far")
    wait_for(lambda: connected_host("far"), what="the agent")

    started = time.monotonic()
    status, body, _ = master.post("/create/demo/1.0/default")

    assert status == 503
    assert body == {"code": "no_host", "detail": "No host in region 'local' can take a new room now."}
    assert time.monotonic() - started < 1
    assert not Room.objects.exists()


def test_killing_the_game_server_removes_its_room(cluster, region, version, chat):
    master = cluster.master()
    cluster.agent(master)
    wait_for(connected_host, what="the agent")
    status, body, _ = master.post("/create/demo/1.0/default")
    assert status == 200, body

    os.kill(Room.objects.get().pid, signal.SIGKILL)

    wait_for(lambda: not Room.objects.exists(), what="the room to go")
    assert not Slot.objects.exists()


def test_killing_the_agent_removes_its_rooms_after_the_grace_period(cluster, region, version, chat):
    master = cluster.master()
    agent = cluster.agent(master)
    wait_for(connected_host, what="the agent")
    status, body, _ = master.post("/create/demo/1.0/default")
    assert status == 200, body
    pid = Room.objects.get().pid

    os.killpg(agent.pid, signal.SIGKILL)

    wait_for(lambda: not Host.objects.get().connected, what="the host to be unhealthy")
    assert Room.objects.exists()  # still within the grace period
    wait_for(lambda: not Room.objects.exists(), what="the room to go")
    # The game server, orphaned by its agent, was told to terminate by the master.
    wait_for(lambda: not pid_alive(pid), what="the game server to exit")


def test_a_restarted_agent_keeps_the_rooms_it_still_runs(cluster, region, version, chat, tmp_path):
    master = cluster.master(HOST_GRACE_SECONDS="30")
    state_dir = tmp_path / "agent-state"
    agent = cluster.agent(master, state_dir=state_dir)
    wait_for(connected_host, what="the agent")
    status, body, _ = master.post("/create/demo/1.0/default")
    assert status == 200, body
    room = Room.objects.get()
    os.killpg(agent.pid, signal.SIGKILL)
    wait_for(lambda: not Host.objects.get().connected, what="the host to be unhealthy")

    cluster.agent(master, state_dir=state_dir)

    wait_for(connected_host, what="the agent to come back")
    assert Room.objects.get().state == Room.RUNNING
    player = Player(body["location"], body["key"])
    assert player.line() == "WELCOME alice"
    player.close()
    # The new agent watches the adopted game server: its exit still removes the room.
    os.kill(room.pid, signal.SIGKILL)
    wait_for(lambda: not Room.objects.exists(), what="the room to go")


@pytest.mark.redis
def test_a_room_created_through_one_master_spawns_on_an_agent_of_another(cluster, region, version, chat):
    first, second = cluster.master(), cluster.master()
    cluster.agent(first)
    wait_for(connected_host, what="the agent")

    status, body, _ = second.post("/create/demo/1.0/default")

    assert status == 200, body
    player = Player(body["location"], body["key"])
    assert player.line() == "WELCOME alice"
    player.close()
