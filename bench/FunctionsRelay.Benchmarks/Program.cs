using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/FunctionsRelay.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
