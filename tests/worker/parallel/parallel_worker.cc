// One rank of the collective tests: joins the job from torchrun's environment variables, runs
// every collective on values each rank can predict, and exits 0 when all results are right
// (1 with the first wrong one printed; 3 when the rendezvous failed, printing the status).
#include <torch/torch.h>

#include <cstdlib>
#include <iostream>

#include "worker/parallel/c10d_communicator.h"

namespace {

bool Check(bool ok, const char* what, int rank) {
  if (!ok) std::cerr << "rank " << rank << ": " << what << " is wrong" << std::endl;
  return ok;
}

}  // namespace

int main() {
  auto env = moe::worker::LaunchEnvFromEnvironment();
  if (!env.ok()) {
    std::cout << env.status() << std::endl;
    return 3;
  }
  auto comm = moe::worker::C10dCommunicator::Create(*env, torch::kCPU);
  if (!comm.ok()) {
    std::cout << comm.status() << std::endl;
    return 3;
  }
  const int r = (*comm)->rank(), w = (*comm)->world_size();
  bool ok = true;
  // all_reduce: each rank contributes rank + 1.
  torch::Tensor t = torch::full({5}, static_cast<float>(r + 1));
  (*comm)->AllReduceSum(t);
  ok &= Check(torch::allclose(t, torch::full({5}, w * (w + 1) / 2.0f)), "all_reduce", r);
  // bf16 as it is (no staging through fp32).
  torch::Tensor b = torch::full({3}, 0.5, torch::kBFloat16);
  (*comm)->AllReduceSum(b);
  ok &= Check(b.scalar_type() == torch::kBFloat16 && b[0].item<float>() == 0.5f * w,
              "bf16 all_reduce", r);
  // reduce_scatter: input[i] = rank * 100 + i; this rank keeps elements [r * 4, r * 4 + 4).
  torch::Tensor in = torch::arange(4 * w, torch::kFloat32) + 100.0f * r;
  torch::Tensor out = torch::empty({4});
  (*comm)->ReduceScatterSum(in, out);
  const torch::Tensor expected =
      (torch::arange(4, torch::kFloat32) + 4 * r) * w + 100.0f * (w * (w - 1) / 2);
  ok &= Check(torch::allclose(out, expected), "reduce_scatter", r);
  torch::Tensor out_bf16 = torch::empty({4}, torch::kBFloat16);
  (*comm)->ReduceScatterSum(in.to(torch::kBFloat16), out_bf16);
  ok &= Check(torch::allclose(out_bf16.to(torch::kFloat32), expected, /*rtol=*/1e-2),
              "bf16 reduce_scatter", r);
  // reduce to the last rank, asynchronously: each rank contributes rank + 1.
  torch::Tensor partial = torch::full({6}, static_cast<float>(r + 1));
  std::unique_ptr<moe::worker::PendingCollective> pending = (*comm)->ReduceSumAsync(partial, w - 1);
  pending->Wait();
  if (r == w - 1) {
    ok &= Check(torch::equal(partial, torch::full({6}, w * (w + 1) / 2.0f)), "reduce", r);
  }
  // all_gather: rank r sends [r, r, r].
  torch::Tensor gathered = torch::empty({3 * w});
  (*comm)->AllGather(torch::full({3}, static_cast<float>(r)), gathered);
  ok &= Check(torch::equal(gathered, torch::arange(w, torch::kFloat32).repeat_interleave(3)),
              "all_gather", r);
  // in place, as ZeRO-2 gathers parameters: rank r's slice of the output is its input.
  torch::Tensor flat = torch::full({3 * w}, -1.0f, torch::kBFloat16);
  flat.narrow(0, 3 * r, 3).fill_(static_cast<float>(r));
  (*comm)->AllGather(flat.narrow(0, 3 * r, 3), flat);
  ok &= Check(torch::equal(flat.to(torch::kFloat32),
                           torch::arange(w, torch::kFloat32).repeat_interleave(3)),
              "in-place all_gather", r);
  // broadcast from the last rank.
  torch::Tensor value = torch::full({2}, static_cast<float>(r));
  (*comm)->Broadcast(value, w - 1);
  ok &= Check(torch::equal(value, torch::full({2}, static_cast<float>(w - 1))), "broadcast", r);
  (*comm)->Barrier();
  return ok ? 0 : 1;
}
