// moectl: the command line for moed. Never links LibTorch.
#include "client/moectl.h"

int main(int argc, char** argv) { return moe::client::RunMoectl(argc, argv); }
