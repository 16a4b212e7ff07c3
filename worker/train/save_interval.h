// How often to save (checkpoint.save_steps: auto): the Young/Daly rule. With δ the time a save
// costs training (the stall: the host snapshot when saves are asynchronous, the whole save when
// synchronous) and M the mean time between interruptions, saving every τ seconds of training
// loses, per interruption, δ per save made plus on average τ/2 of work redone. Young's optimum
// is τ = sqrt(2δM); Daly's higher-order one, used here, is
//   τ = sqrt(2δM) · (1 + sqrt(δ/2M)/3 + (δ/2M)/9) − δ   for δ < 2M, else τ = M.
// In optimizer steps: τ divided by the time of a step, rounded, at least 1.
//
// SaveInterval keeps the measurements (exponentially averaged, so it follows saves that get
// slower) and the interval they give. It is pure: the trainer feeds it values every rank
// agrees on, so every rank decides to save at the same steps.
#ifndef MOE_WORKER_TRAIN_SAVE_INTERVAL_H_
#define MOE_WORKER_TRAIN_SAVE_INTERVAL_H_

#include <cstdint>
#include <string>

namespace moe::worker {

// Daly's optimal seconds of training between saves for save cost `save_cost_s` and mean time
// between interruptions `mtbi_s` (both > 0).
double DalyIntervalSeconds(double save_cost_s, double mtbi_s);

class SaveInterval {
 public:
  // `mtbi_s` > 0. Until a save and a step have been measured there is no interval: the
  // first save is due at once (it measures the cost).
  explicit SaveInterval(double mtbi_s) : mtbi_s_(mtbi_s) {}

  // A measured step time (seconds per optimizer step) or save cost (seconds of training
  // lost to one save). Each moves its average a third of the way (the first sets it).
  void ObserveStep(double seconds);
  void ObserveSave(double seconds);

  // Steps between saves; 0 until both are measured (a save is due now).
  int64_t steps() const { return steps_; }
  // Why: the measurements and the rule, e.g. "save 0.02 s, step 0.05 s, interruptions every
  // 2h: Young/Daly every 12.1 s = 242 steps".
  std::string Why() const;

 private:
  void Update();

  const double mtbi_s_;
  double step_s_ = 0, save_s_ = 0;  // averages; 0: not measured yet
  int64_t steps_ = 0;
};

}  // namespace moe::worker

#endif  // MOE_WORKER_TRAIN_SAVE_INTERVAL_H_
