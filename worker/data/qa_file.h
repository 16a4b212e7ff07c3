// Reading a question/answer JSONL file into records, with the held-out evaluation split.
#ifndef MOE_WORKER_DATA_QA_FILE_H_
#define MOE_WORKER_DATA_QA_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "moe/v1/job.pb.h"
#include "worker/data/qa_record.h"

namespace moe::worker {

enum class DataSplit { kTrain, kEval };

// Whether line `line_number` (1-based) belongs to the held-out split: a fixed hash of the
// number compared with `eval_fraction`, so the split is the same on every run and machine.
bool IsHeldOut(int64_t line_number, double eval_fraction);

struct QaFile {
  std::vector<QaRecord> records;
  std::vector<int32_t> experts;  // per record: index into the job's experts; -1 without experts
  int64_t lines = 0;             // non-blank lines of the split read
  int64_t skipped = 0;           // invalid lines skipped (skip_invalid)
};

// Reads spec.train_file's records of `split`, validating each (expert labels must be among
// `experts` unless it is empty). The train split stops after max_samples records; the eval
// split after eval_max_samples. Errors: NotFound for an unreadable file; InvalidArgument
// "FILE:LINE: what" for a bad line unless skip_invalid; a split without records.
absl::StatusOr<QaFile> ReadQaFile(const moe::v1::DataSpec& spec, DataSplit split,
                                  const std::vector<std::string>& experts);

}  // namespace moe::worker

#endif  // MOE_WORKER_DATA_QA_FILE_H_
