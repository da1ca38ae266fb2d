#include "harness/cli.h"

int main(int argc, char **argv) { return biqa_main(argc, argv); }
