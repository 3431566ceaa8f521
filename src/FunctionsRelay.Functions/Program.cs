using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.Telemetry;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddRelay(builder.Configuration);
builder.Services.AddRelayTelemetry(builder.Configuration);
// Function invocations as spans, joined to the host's trace of each trigger.
builder.Services.AddOpenTelemetry().UseFunctionsWorkerDefaults();
builder.Build().Run();
