using FunctionsRelay.Functions;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.AddRelayLogging();
builder.Services.AddRelay(builder.Configuration);
builder.Services.AddStorageCreation(inBackground: true);
builder.Services.AddRelayTelemetry(builder.Configuration);
// Function invocations as spans, joined to the host's trace of each trigger. It also tells the host that this worker
// exports its own telemetry, log lines included (AddRelayTelemetry, AddRelayLogging).
builder.Services.AddOpenTelemetry().UseFunctionsWorkerDefaults();
builder.Build().Run();
