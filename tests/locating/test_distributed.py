"""Data-parallel locating: two gloo processes on the CPU against one process, resume per rank,
a failing rank, and models loaded with ``device_map`` and other dtypes.

The multi-process cases launch this file itself under ``torchrun --standalone`` (a free port,
so that parallel test runs do not collide); see ``_worker`` at the bottom.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from valuelocate.locating import LocateOptions, locate
from valuelocate.locating.distributed import (
    Shard,
    launch_info,
    pack_additive,
    process_group,
    rank_device,
    unpack_additive,
)
from valuelocate.models import load_model
from valuelocate.stats import NeuronStats

# torchrun runs this file as a script, whose sys.path starts at tests/locating: the shared
# helpers live one folder up (under pytest, tests/conftest.py puts tests/ on the path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tiny_models import STORIES  # noqa: E402

OPTIONS = LocateOptions(
    model=str(STORIES),
    dimensions=("conservation",),
    prompts_per_pole=7,  # 4 batches of 2: two per rank, so each rank can checkpoint mid-pole
    max_new_tokens=4,
    batch_size=2,
    checkpoint_seconds=0.0,
    method_params={"min_required": 10, "threshold": 0.05},
)
needs_stories = pytest.mark.skipif(not STORIES.is_dir(), reason="../shared/models is absent")
COUNT_KEYS = ("n", "hist", "prompt_n")  # integers: must be identical


# ------------------------------------------------------------------ pure functions


def test_launch_info_reads_the_launcher_environment() -> None:
    assert launch_info({}) is None
    assert launch_info({"WORLD_SIZE": "1", "RANK": "0"}) is None
    info = launch_info({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (info.rank, info.world_size, info.local_rank) == (3, 4, 1)
    with pytest.raises(ValueError, match="RANK"):
        launch_info({"WORLD_SIZE": "2"})
    assert rank_device("cuda", info) == "cuda:1"
    assert rank_device("cpu", info) == "cpu"
    assert rank_device("cuda:0", None) == "cuda:0"


def test_alone_the_process_group_is_a_no_op() -> None:
    with process_group(environ={}) as shard:
        assert shard == Shard() and shard.is_main and not shard.is_distributed
        stats = NeuronStats(2, 3)
        assert shard.combine(stats) is stats
    assert not torch.distributed.is_initialized()


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_batches_are_split_once_each_like_one_process(world: int) -> None:
    shards = [Shard(rank, world) for rank in range(world)]
    starts = sorted(b for s in shards for b in s.batch_starts(23, 4))
    assert starts == list(range(0, 23, 4))
    assert Shard(1, 2).batch_starts(23, 4, start=2) == [12, 20]


def _random_stats(seed: int, batches: int) -> NeuronStats:
    gen = torch.Generator().manual_seed(seed)
    stats = NeuronStats(3, 5, hist_bins=11, bin_width=0.1)
    for _ in range(batches):
        for layer in range(3):
            values = torch.randn(2, 4, 5, generator=gen) * 0.5 + 0.3
            mask = torch.rand(2, 4, generator=gen) > 0.3
            stats.add(layer, values, mask)
        stats.end_batch()
    return stats


def test_additive_form_summed_over_shards_equals_merge() -> None:
    shards = [_random_stats(seed, batches=seed + 1) for seed in range(3)]
    packed = [pack_additive(s.state_dict(), device=torch.device("cpu")) for s in shards]
    total = torch.stack([vector for vector, _ in packed]).sum(0)  # what all_reduce computes
    combined = unpack_additive(total, packed[0][1])
    merged = (shards[0] + shards[1] + shards[2]).state_dict()
    assert combined.keys() == merged.keys()
    for key, tensor in merged.items():
        if key in COUNT_KEYS:
            assert torch.equal(combined[key], tensor), key
        else:
            torch.testing.assert_close(combined[key], tensor, rtol=1e-12, atol=1e-13)
    rebuilt = NeuronStats.from_state_dict(combined, bin_width=0.1)
    torch.testing.assert_close(rebuilt.var, (shards[0] + shards[1] + shards[2]).var)


# ------------------------------------------------------------------ two processes


def _torchrun(args: list[str], *, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _cli_args(out: Path) -> list[str]:
    return [
        "-m", "valuelocate", "locate", "--model", str(STORIES), "--out", str(out),
        "--dimensions", "conservation", "--prompts-per-pole", "7", "--max-new-tokens", "4",
        "--batch-size", "2", "--checkpoint-seconds", "0",
        "--param", "min_required=10", "--param", "threshold=0.05",
    ]  # fmt: skip


def _artifacts(run_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    files = sorted((run_dir / "stats").glob("*.safetensors")) + [run_dir / "neurons.safetensors"]
    return {f.name: load_file(str(f)) for f in files}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("dp") / "one"
    # One thread, as each torchrun rank: float32 matmuls reduce in another order with more
    # threads, which would move the activations themselves, not just the sums' order.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        locate(OPTIONS, run_dir, lm=load_model(str(STORIES)))
    finally:
        torch.set_num_threads(threads)
    return run_dir


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):  # type: ignore[no-untyped-def]
    run_dir = tmp_path_factory.mktemp("dp") / "two"
    result = _torchrun(_cli_args(run_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


@needs_stories
def test_two_processes_count_exactly_what_one_process_counts(one_process, two_processes) -> None:  # type: ignore[no-untyped-def]
    run_dir, result = two_processes
    one, two = _artifacts(one_process), _artifacts(run_dir)
    assert one.keys() == two.keys()
    for name in one:
        for key, tensor in one[name].items():
            if key in COUNT_KEYS or tensor.dtype in (torch.int64, torch.int32, torch.bool):
                assert torch.equal(tensor, two[name][key]), f"{name}:{key}"
            else:  # float sums in another order
                torch.testing.assert_close(two[name][key], tensor, rtol=1e-12, atol=1e-12)
    for name in ("conservation.affirm.safetensors", "conservation.oppose.safetensors"):
        a = NeuronStats.load(one_process / "stats" / name)
        b = NeuronStats.load(run_dir / "stats" / name)
        assert int(a.n[0]) > 0 and torch.equal(a.p, b.p)  # p = c / n, exactly
    # Rank 0 printed the summary once; rank 1 printed nothing of it.
    assert result.stdout.count("Selected neurons") == 1
    assert "2 processes" in result.stdout
    manifest = (run_dir / "manifest.json").read_text()
    assert '"status": "complete"' in manifest and '"world_size": 2' in manifest


@needs_stories
def test_interrupted_ranks_resume_to_the_same_artifacts(two_processes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "resumed"
    first = _torchrun([__file__, "interrupt", str(run_dir)])
    assert first.returncode != 0, "both ranks stop in the second pole"
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("*.safetensors"))
    assert checkpoints == [
        "conservation.oppose.rank0-of2.safetensors",
        "conservation.oppose.rank1-of2.safetensors",
    ]
    assert (run_dir / "stats" / "conservation.affirm.safetensors").is_file()
    for rank in (0, 1):
        meta = NeuronStats.read_metadata(checkpoints_dir(run_dir) / checkpoints[rank])
        assert meta["next_batch"] == str(rank + 1)  # each rank closed its first batch
    second = _torchrun([__file__, "resume", str(run_dir)])
    assert second.returncode == 0, second.stderr[-3000:]
    assert not list(checkpoints_dir(run_dir).glob("*.safetensors"))
    whole, resumed = _artifacts(two_processes[0]), _artifacts(run_dir)
    for name, tensors in whole.items():
        for key, tensor in tensors.items():
            assert torch.equal(tensor, resumed[name][key]), f"{name}:{key} differs after resume"


def checkpoints_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


@needs_stories
def test_resume_with_another_number_of_processes_is_refused(tmp_path) -> None:
    run_dir = tmp_path / "run"
    lm = load_model(str(STORIES))
    with pytest.raises(KeyboardInterrupt):
        locate(OPTIONS, run_dir, lm=lm, progress=_stop_in_second_pole)
    (checkpoints_dir(run_dir) / "conservation.oppose.safetensors").rename(
        checkpoints_dir(run_dir) / "conservation.oppose.rank0-of2.safetensors"
    )
    with pytest.raises(ValueError, match="another size"):
        locate(OPTIONS, run_dir, lm=lm, resume=True)


@needs_stories
def test_a_failing_rank_ends_the_launch_instead_of_hanging(tmp_path) -> None:
    began = time.monotonic()
    result = _torchrun([__file__, "fail", str(tmp_path / "failed")], timeout=90)
    assert result.returncode != 0
    assert "rank 1 fails on purpose" in result.stderr
    assert time.monotonic() - began < 60


# ------------------------------------------------------------------ device_map and dtypes


@needs_stories
def test_device_map_auto_and_bfloat16_count_the_same_tokens(one_process, tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = replace(OPTIONS, prompts_per_pole=2)
    dispatched = locate(replace(small, device_map="auto"), tmp_path / "auto")
    plain = locate(small, tmp_path / "plain", lm=load_model(str(STORIES)))
    half = locate(replace(small, dtype="bfloat16"), tmp_path / "bf16")
    for key, stats in plain.stats.items():
        assert torch.equal(dispatched.stats[key].state_dict()["hist"], stats.state_dict()["hist"])
        assert torch.equal(half.stats[key].n, stats.n), "bfloat16 counts the same tokens"
        assert torch.equal(half.stats[key].prompt_count, stats.prompt_count)
        assert half.stats[key].mean.isfinite().all()
    assert '"device_map": "auto"' in (tmp_path / "auto" / "manifest.json").read_text()


# ------------------------------------------------------------------ the launched worker


def _stop_in_second_pole(job, counters) -> None:  # type: ignore[no-untyped-def]
    if job.key == "conservation.oppose" and counters.prompts_done == 2:
        raise KeyboardInterrupt


def _worker(mode: str, out: str) -> None:
    """What each rank runs under torchrun: ``interrupt``, ``resume`` or ``fail``."""
    with process_group(timeout=timedelta(seconds=20)) as shard:
        if mode == "fail":
            if shard.rank == 1:
                raise RuntimeError("rank 1 fails on purpose")
            shard.barrier()  # rank 1 never arrives: the launcher or the timeout ends rank 0
        elif mode == "interrupt":
            locate(OPTIONS, out, shard=shard, progress=_stop_in_second_pole)
        else:
            locate(OPTIONS, out, shard=shard, resume=True)


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
@needs_stories
def test_two_nccl_processes_count_what_one_gpu_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """nccl parity: two ranks on two GPUs against one process on one GPU."""
    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run(
        [sys.executable, *_cli_args(one), "--device", "cuda"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert single.returncode == 0, single.stderr[-3000:]
    result = _torchrun([*_cli_args(two), "--device", "cuda"], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("conservation.affirm.safetensors", "conservation.oppose.safetensors"):
        a = NeuronStats.load(one / "stats" / name)
        b = NeuronStats.load(two / "stats" / name)
        assert torch.equal(a.n, b.n) and torch.equal(a.c, b.c)
        assert torch.equal(a.state_dict()["hist"], b.state_dict()["hist"])
        torch.testing.assert_close(a.prompt_mean, b.prompt_mean, rtol=1e-9, atol=1e-9)
