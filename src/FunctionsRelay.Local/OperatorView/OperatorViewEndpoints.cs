using FunctionsRelay.Infrastructure.Http;
using Microsoft.AspNetCore.Mvc;

namespace FunctionsRelay.Local.OperatorView;

/// <summary>The operator view at /operator (<see cref="OperatorViewEndpoint"/>): it shows every portal's state, so only a browser on this machine gets it.</summary>
public static class OperatorViewEndpoints
{
    public static IEndpointRouteBuilder MapOperatorView(this IEndpointRouteBuilder app)
    {
        var view = app.MapGroup("/").OnlyFromThisMachine("The operator view answers only on this machine; on Azure open /api/operator with the function app's master key, or use relay status.");
        view.MapGet(OperatorViewEndpoint.Route, ([FromServices] OperatorViewEndpoint endpoint) => endpoint.Page());
        view.MapGet(OperatorViewEndpoint.HealthRoute, (HttpRequest request, [FromServices] OperatorViewEndpoint endpoint, CancellationToken cancellationToken) =>
            endpoint.HealthAsync(request, cancellationToken));
        return app;
    }
}
