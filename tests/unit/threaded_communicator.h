// Test helper: N ranks as threads of one process, joined by an in-memory Communicator whose
// collectives run on one worker thread per rank (as Gloo runs them on its own thread), so that
// GradSync's overlap — hooks packing buckets on the autograd thread while earlier buckets are being
// reduced elsewhere — can be checked by ThreadSanitizer with every thread and lock instrumented
// (Gloo's threads live in the uninstrumented libtorch_cpu, where TSan cannot see their
// synchronisation). Every collective is matched across ranks by its sequence number; sums are
// computed in rank order, so results are deterministic.
#pragma once

#include <memory>
#include <vector>

#include "src/distributed/communicator.h"

namespace ibllm::test {

// One communicator per rank of a `world`-rank group; each must be used by one thread (its rank's).
std::vector<std::unique_ptr<dist::Communicator>> make_threaded_group(int world);

}  // namespace ibllm::test
