#include "common/spec_defaults.h"

#include <string>

namespace moe::common {
namespace {

// Sets an `optional` proto field to `value` unless the user set it.
#define MOE_DEFAULT(msg, field, value) \
  if (!(msg)->has_##field()) (msg)->set_##field(value)

void ApplyModelDefaults(moe::v1::ModelSpec* model) {
  if (model->has_config()) {
    moe::v1::MptConfig* c = model->mutable_config();
    MOE_DEFAULT(c, expansion_ratio, 4);
    MOE_DEFAULT(c, max_seq_len, 2048);
    MOE_DEFAULT(c, alibi_bias_max, 8.0);
    MOE_DEFAULT(c, layer_norm_eps, 1e-5);
  }
  if (model->tokenizer().empty() && !model->hf_path().empty()) {
    model->set_tokenizer(model->hf_path() + "/tokenizer.json");
  }
  moe::v1::MoeSpec* moe = model->mutable_moe();
  MOE_DEFAULT(moe, top_k, 1);
  MOE_DEFAULT(moe, min_capacity, 4);
  MOE_DEFAULT(moe, load_balance_loss_weight, 0.01);
  MOE_DEFAULT(moe, z_loss_weight, 0.001);
  MOE_DEFAULT(moe, label_loss_weight, 0.1);
  if (moe->layers_case() == moe::v1::MoeSpec::LAYERS_NOT_SET) moe->set_all_layers(true);
  if (moe->routing() == moe::v1::ROUTING_MODE_UNSPECIFIED) {
    moe->set_routing(moe::v1::ROUTING_MODE_LEARNED);
  }
}

void ApplyDataDefaults(moe::v1::DataSpec* data) {
  MOE_DEFAULT(data, max_seq_len, 256);
  MOE_DEFAULT(data, max_target_len, 128);
  MOE_DEFAULT(data, packing, true);
  if (data->eval_max_samples() == 0) data->set_eval_max_samples(200);
  if (data->prompt_template().empty()) data->set_prompt_template(kDefaultPromptTemplate);
}

void ApplyTrainingDefaults(moe::v1::TrainingSpec* t) {
  MOE_DEFAULT(t, epochs, 1);
  MOE_DEFAULT(t, learning_rate, 2e-5);
  MOE_DEFAULT(t, micro_batch_size, 4);
  MOE_DEFAULT(t, grad_accumulation, 4);
  MOE_DEFAULT(t, warmup_steps, 100);
  MOE_DEFAULT(t, max_grad_norm, 1.0);
  MOE_DEFAULT(t, weight_decay, 0.0);
  MOE_DEFAULT(t, adam_beta1, 0.9);
  MOE_DEFAULT(t, adam_beta2, 0.95);
  MOE_DEFAULT(t, adam_eps, 1e-8);
  MOE_DEFAULT(t, seed, 42);
  if (t->lr_schedule() == moe::v1::LR_SCHEDULE_UNSPECIFIED) {
    t->set_lr_schedule(moe::v1::LR_SCHEDULE_LINEAR);
  }
}

}  // namespace

void ApplyDefaults(moe::v1::JobSpec* spec) {
  ApplyModelDefaults(spec->mutable_model());
  ApplyDataDefaults(spec->mutable_data());
  ApplyTrainingDefaults(spec->mutable_training());

  moe::v1::ZeroSpec* zero = spec->mutable_zero();
  MOE_DEFAULT(zero, stage, 2);
  MOE_DEFAULT(zero, bucket_mb, 25);
  MOE_DEFAULT(zero, overlap_comm, true);

  moe::v1::CheckpointSpec* ckpt = spec->mutable_checkpoint();
  if (ckpt->output_dir().empty()) ckpt->set_output_dir("runs/" + spec->name());
  if (!ckpt->save_steps_auto()) MOE_DEFAULT(ckpt, save_steps, 500);
  if (ckpt->save_steps_auto() && ckpt->mean_time_between_interruptions().empty()) {
    ckpt->set_mean_time_between_interruptions("2h");
  }
  MOE_DEFAULT(ckpt, async, true);
  MOE_DEFAULT(ckpt, save_at_epoch_end, true);

  moe::v1::ResourceSpec* res = spec->mutable_resources();
  MOE_DEFAULT(res, world_size, 1);
  MOE_DEFAULT(res, max_restarts, 3);

  moe::v1::LoggingSpec* log = spec->mutable_logging();
  MOE_DEFAULT(log, logging_steps, 10);
  MOE_DEFAULT(log, tensorboard, true);
  if (log->log_level().empty()) log->set_log_level("info");
}

#undef MOE_DEFAULT

}  // namespace moe::common
