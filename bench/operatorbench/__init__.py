"""Benchmarks of the operator: dispatch latency, throughput, API writes per task, memory, and
the pool against the bare CLI.

Runs standalone: `.venv/bin/python bench/bench_operator.py [--quick] [--only NAME[,NAME]]`
(NAME: latency, throughput, writes, rss, ratio, composites). One shared setup: a real control
plane on loopback (etcd, kube-apiserver with a JSON audit log of every write,
kube-controller-manager), the CRDs, the fake Anthropic API on a thread; then, per group, a
namespace, a local node (slot agents as local processes) and `python -m claude_pool operator`
as a subprocess:

- instant group (latency, writes, throughput): the slots run bench/instant_claude, a shell
  script that prints a valid result at once and logs `<time_ns> <HOME> <task name>` when
  it starts, so the operator's overhead is all that is measured.
  * latency: tasks created one at a time at a steady rate (slots are free), latency = the
    CLI's start stamp - the client's clock just before the create call; p50/p99.
  * writes: the apiserver's audit log, requests of the operator's user agent in the
    namespace during a phase, divided by its tasks, by verb/resource; cross-checked with the
    operator's claude_pool_api_writes_total.
  * throughput: 500 tasks created by 8 threads, first create -> last Succeeded (a watch),
    on 10 slots, then the pool scaled to 50 slots; 3 runs each, the median is the figure;
    per run the CPU of every component and the slot cycle (CLI start -> result patch ->
    next assignment patch -> next CLI start on the same slot, from the audit log).
- rss: 10,000 ClaudeTasks created and patched to Succeeded directly through the API (timed:
  that is setup), a pool of 200 slots with no node (the pods stay Pending), then a fresh
  operator; once it has created the pods, written the pool status and gone idle, VmRSS
  and VmHWM from /proc.
- ratio: the real CLI + the fake API, 4 slots; 4 rounds of (8 tasks through the pool,
  8 direct runs of the same CLI command 4 at a time), order alternating per round;
  ratio = pool throughput / direct throughput, with the CPU per task of both.
- composites (`composites.py`, instant CLI): a fan-out of 200 prompts on 50 slots, create ->
  parent Succeeded, against 200 single tasks created directly; API writes per child (audit
  log); a 20-step chain's CLI start -> next step's CLI start, p50.

docs/performance.md has the method in detail, the figures and what limits them.

Every wait is bounded; a watchdog ends the run (exit 3) if it overruns. Prints a table of
figures with targets and PASS/MISS; `--strict` exits 1 on a miss.
"""
