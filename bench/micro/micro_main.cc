/* pna-micro: Google Benchmark micro-benchmarks of pnad's per-event code
 * (hashing, names, frame decoding and routing, subscription matching, SIP
 * and XMPP building and parsing), linked against the objects pnad is built
 * from. `make micro` runs it; any --benchmark_* flag is accepted. */
#include <benchmark/benchmark.h>

#include "bench/micro/micro_cycles.h"

int main(int argc, char **argv)
{
	benchmark::AddCustomContext("cycles", micro_cycles_init());
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 2;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
