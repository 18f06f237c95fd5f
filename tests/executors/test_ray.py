"""RayExecutor on a local two-CPU Ray: order, actors keeping models, killed actors, tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from emb_opt import BackendError, CallTimedOut, ConfigError, Runner, SearchAborted
from emb_opt.config import config_folder_on_path
from emb_opt.config.build import build_executor
from emb_opt.config.registry import import_object
from emb_opt.config.schema import ExecutorConfig
from emb_opt.executors import RayExecutor, SerialExecutor
from emb_opt.objectives import TargetScore
from emb_opt.schemas import ScoreResponse
from emb_opt.update import TopKDiscreteUpdate

ray = pytest.importorskip("ray")
# Ray workers cannot import this test module: ship its functions by value, as Ray does for
# functions defined in a script's __main__ or a notebook.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]  # starts Ray


class LazyModel:
    """Loads its 'model' on first call and reports, per item, how often it loaded."""

    def __init__(self) -> None:
        self.loads = 0
        self.model: TargetScore | None = None

    def __call__(self, items):
        if self.model is None:
            self.loads += 1
            self.model = TargetScore()
        data = {"pid": os.getpid(), "loads": self.loads}
        return [ScoreResponse(valid=True, score=r.score, data=data) for r in self.model(items)]


class DieOnce:
    """Kills its worker process on the first call anywhere (marked by a file), then scores."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, items):
        if not self.marker.exists():
            self.marker.touch()
            os._exit(1)
        return TargetScore()(items)


class AlwaysDie:
    def __call__(self, items):
        os._exit(1)


class SlowScore:
    """Marks that a batch started, then scores slowly (so it can be killed mid-batch)."""

    def __init__(self, started: Path) -> None:
        self.started = started

    def __call__(self, items):
        self.started.touch()
        time.sleep(0.4)
        return TargetScore()(items)


def raise_on_item_ten(items):
    if any(item.id == 10 for item in items):
        raise ValueError("item 10 is cursed")
    return TargetScore()(items)


def serial_scores(items):
    return [r.score for _, out in SerialExecutor().run(TargetScore(), items) for r in out]


def flat(outcomes, field="score"):
    return [getattr(r, field) for _, out in outcomes for r in out]


@pytest.fixture(scope="module")
def pool(ray_session):
    """Two actors shared by the tests that kill none (actors take a while to start).

    They hold half the session's two CPUs, so that other tests' actors and tasks can start.
    """
    with RayExecutor(num_actors=2, batch_size=7, num_cpus=0.5) as executor:
        yield executor


def test_results_match_serial_in_input_order(pool, items):
    outcomes = pool.run(TargetScore(), items)
    assert [batch for batch, _ in outcomes] == [items[i : i + 7] for i in range(0, 40, 7)]
    assert flat(outcomes) == serial_scores(items)


def test_tasks_match_serial_in_input_order(items):
    with RayExecutor(batch_size=9, mode="tasks") as executor:
        outcomes = executor.run(TargetScore(), items)
        assert executor.actors == []
    assert [len(batch) for batch, _ in outcomes] == [9, 9, 9, 9, 4]
    assert flat(outcomes) == serial_scores(items)


def test_a_score_module_beside_the_config_reaches_the_workers(items, tmp_path):
    (tmp_path / "beside_config_scores.py").write_text(
        "from emb_opt.objectives import TargetScore\n\n\n"
        "def score(items):\n"
        "    return [response.score for response in TargetScore()(items)]\n"
    )
    config = ExecutorConfig(kind="ray", num_actors=1, num_cpus=0.5, batch_size=7)
    with config_folder_on_path(tmp_path):
        score = import_object("beside_config_scores:score", "score.function")
        executor = build_executor(config)  # the builder tells Ray which modules to ship
        try:
            outcomes = executor.run(score, items)
        finally:
            executor.close()
    assert [s for _, out in outcomes for s in out] == pytest.approx(serial_scores(items))


def test_actors_load_the_model_once_and_keep_it_across_runs(pool, items):
    model = LazyModel()
    runs = [pool.run(model, items), pool.run(TargetScore(), items), pool.run(model, items[:20])]
    data = [d for outcomes in runs[::2] for d in flat(outcomes, "data")]
    assert {d["loads"] for d in data} == {1}
    assert 1 <= len({d["pid"] for d in data}) <= 2 == len(pool.actors)


def test_an_exception_from_the_function_is_returned_not_retried(pool, items):
    restarts = pool.actor_restarts
    outcomes = pool.run(raise_on_item_ten, items)
    assert pool.actor_restarts == restarts
    errors = [out for _, out in outcomes if isinstance(out, Exception)]
    assert len(errors) == 1 and isinstance(errors[0], ValueError) and "cursed" in str(errors[0])
    assert outcomes[1][1] is errors[0]


def test_an_actor_that_dies_mid_batch_is_replaced_and_the_batch_retried(
    numpy_source, start_batch, tmp_path
):
    def search(score, executor):
        runner = Runner(numpy_source, None, score, None, TopKDiscreteUpdate(4), executor=executor)
        _, log = runner.search(start_batch.model_copy(deep=True), 3, verbose=False)
        return log

    with RayExecutor(num_actors=2, batch_size=4, num_cpus=0.5, max_retries=2) as executor:
        log = search(DieOnce(tmp_path / "died"), executor)
        assert executor.actor_restarts == 1
    serial = search(TargetScore(), SerialExecutor())
    results = log.compile_results()
    assert [r["id"] for r in results] == [r["id"] for r in serial.compile_results()]
    assert [r["score"] for r in results] == [r["score"] for r in serial.compile_results()]
    assert log.counters.score_calls == log.unique_items == serial.counters.score_calls


def test_an_actor_killed_from_outside_mid_batch_loses_no_item(ray_session, items, tmp_path):
    started = tmp_path / "started"
    executor = RayExecutor(num_actors=1, batch_size=10, max_retries=2)
    executor.start()
    victim = executor.actors[0]

    def kill_when_busy():
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        ray_session.kill(victim)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    try:
        outcomes = executor.run(SlowScore(started), items)
    finally:
        killer.join()
        executor.close()
    assert [item for batch, _ in outcomes for item in batch] == items
    assert flat(outcomes) == serial_scores(items)
    assert executor.actor_restarts == 1


def test_retries_are_bounded_then_a_backend_error(items):
    with RayExecutor(num_actors=1, batch_size=20, max_retries=1) as executor:
        outcomes = executor.run(AlwaysDie(), items[:20])
        assert executor.actor_restarts == 2
    [(_, error)] = outcomes
    assert isinstance(error, BackendError) and "max_retries=1" in str(error)


def test_a_task_whose_worker_dies_is_retried_by_ray(items, tmp_path):
    with RayExecutor(batch_size=20, mode="tasks", max_retries=2) as executor:
        outcomes = executor.run(DieOnce(tmp_path / "died"), items)
    assert flat(outcomes) == serial_scores(items)


def test_a_search_whose_workers_keep_dying_aborts_with_the_log(numpy_source, start_batch):
    def break_scoring(log):
        if log.counters.iterations == 1:
            runner.score_function = AlwaysDie()

    with RayExecutor(num_actors=1, batch_size=50, max_retries=0) as executor:
        runner = Runner(
            numpy_source, None, TargetScore(), None, TopKDiscreteUpdate(4), executor=executor
        )
        with pytest.raises(SearchAborted, match="BackendError") as caught:
            runner.search(start_batch, 3, verbose=False, on_iteration=break_scoring)
    assert caught.value.log.counters.iterations == 1


@pytest.mark.parametrize(
    "options", [{"mode": "pool"}, {"num_actors": 0}, {"num_gpus": -1}, {"max_retries": -1}]
)
def test_bad_options_are_rejected(options):
    with pytest.raises(ValueError):
        RayExecutor(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_cpus": 0, "num_gpus": 1}, "num_gpus=1 needs more than the cluster's 0 GPUs"),
        ({"num_cpus": 64}, "num_cpus=64 needs more than the cluster's 2 CPUs"),
        ({"num_actors": 3, "num_cpus": 1}, "3 actors x num_cpus=1 needs more than the cluster's 2"),
        ({"num_cpus": 64, "mode": "tasks"}, "num_cpus=64 needs more than the cluster's 2 CPUs"),
    ],
)
def test_a_request_the_cluster_cannot_fit_is_an_error_at_once(items, options, message):
    """Such actors (or tasks) used to wait for resources forever: the run happens on a daemon
    thread so that the test fails, rather than hangs, if they still do."""
    executor = RayExecutor(**{"num_actors": 1, **options})
    failures: list[BaseException] = []

    def run() -> None:
        try:
            executor.run(TargetScore(), items[:4])
        except BaseException as error:
            failures.append(error)

    call = threading.Thread(target=run, daemon=True)
    call.start()
    call.join(120)
    assert not call.is_alive(), "the executor waited for resources the cluster lacks"
    executor.close()
    [error] = failures
    assert isinstance(error, ConfigError) and message in str(error)


def hang_on_item_three(items):
    if any(item.id == 3 for item in items):
        time.sleep(3600)
    return TargetScore()(items)


@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_a_stuck_batch_fails_at_its_deadline_and_the_rest_go_on(items, mode):
    with RayExecutor(num_actors=1, num_cpus=0.5, batch_size=4, mode=mode, timeout=8) as executor:
        outcomes = executor.run(hang_on_item_three, items[:12])
        error = outcomes[0][1]
        assert isinstance(error, CallTimedOut) and "timed out after 8 s" in str(error)
        assert flat(outcomes[1:]) == serial_scores(items[4:12])
        assert flat(executor.run(TargetScore(), items[:4])) == serial_scores(items[:4])


class SlowToArrive(TargetScore):
    """The demo objective, whose unpickling on a worker takes `seconds` (a function that
    brings a model along): time that passes before its call starts."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def __setstate__(self, state):
        time.sleep(state["seconds"])
        self.__dict__.update(state)


@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_a_deadline_counts_from_when_the_call_starts_not_from_when_it_was_sent(items, mode):
    """Each batch's function takes 10 s to reach its worker (as an actor that starts slowly
    on a busy machine would): the 8 s deadline of a call that takes milliseconds holds."""
    with RayExecutor(num_actors=1, num_cpus=0.5, batch_size=4, mode=mode, timeout=8) as executor:
        outcomes = executor.run(SlowToArrive(seconds=10), items[:8])
    assert [type(answer).__name__ for _, answer in outcomes] == ["list", "list"]
    assert flat(outcomes) == pytest.approx(serial_scores(items[:8]))


CLUSTER_CLIENT = """
import sys
from emb_opt.executors import RayExecutor
from emb_opt.objectives import TargetScore
from emb_opt.schemas import Item

items = [Item(id=i, embedding=[i / 10, 0.5]) for i in range(10)]
with RayExecutor(address=sys.argv[1], num_actors=1, num_cpus=0.5, batch_size=4) as executor:
    outcomes = executor.run(TargetScore(), items)
    print([len(batch) for batch, _ in outcomes], executor._started_ray)
"""


def test_a_driver_joins_a_running_cluster_by_address(ray_session):
    address = ray_session.get_runtime_context().gcs_address
    done = subprocess.run(
        [sys.executable, "-c", CLUSTER_CLIENT, address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "[4, 4, 2] True"
    assert ray_session.is_initialized()  # the client's shutdown left the cluster up
