using System.Net;

namespace FunctionsRelay.Local;

/// <summary>
/// Routes that show what the relay holds (the operator view, the demo's sessions with their contacts and utks) answer
/// only a browser on this machine: 403 for a request from any other address.
/// </summary>
public static class LoopbackOnly
{
    public static RouteGroupBuilder OnlyFromThisMachine(this RouteGroupBuilder group, string elsewhere) =>
        group.AddEndpointFilter(async (context, next) =>
            IsLoopback(context.HttpContext.Connection.RemoteIpAddress)
                ? await next(context)
                : Results.Problem(elsewhere, statusCode: StatusCodes.Status403Forbidden));

    /// <summary>An IPv4 loopback address seen through a dual-stack socket counts as this machine too.</summary>
    private static bool IsLoopback(IPAddress? address) =>
        address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
