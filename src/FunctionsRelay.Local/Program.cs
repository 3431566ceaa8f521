using FunctionsRelay.Infrastructure;
using FunctionsRelay.Local;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddHostJson(Path.Combine(AppContext.BaseDirectory, "host.json"));
builder.Services.AddRelay(builder.Configuration);
builder.Services.AddLocalHost(builder.Configuration);

var app = builder.Build();
app.MapLocalHost();
app.Run();

/// <summary>The local host's entry point, visible to the integration tests.</summary>
public partial class Program;
