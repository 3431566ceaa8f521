using System.Runtime.ExceptionServices;
using Microsoft.Azure.WebJobs.Host.Timers;

namespace FunctionsRelay.Local;

/// <summary>
/// What the Functions host does when its queue listener fails in the background (storage out of reach for longer than the
/// SDK's retries, say): it logs the error and stops the app, which the platform then starts again. The WebJobs SDK's own
/// handler rethrows on a new thread instead, which ends the process without stopping anything.
/// </summary>
internal sealed class ListenerFailureHandler(IHostApplicationLifetime lifetime, ILogger<ListenerFailureHandler> logger) : IWebJobsExceptionHandler
{
    public Task OnTimeoutExceptionAsync(ExceptionDispatchInfo exceptionInfo, TimeSpan timeoutGracePeriod) =>
        StopAsync("A queue-triggered function ran past its timeout", "Start it again: the message it was handling is handled again then", exceptionInfo.SourceException);

    public Task OnUnhandledExceptionAsync(ExceptionDispatchInfo exceptionInfo) =>
        StopAsync("The queue listener failed", "Start it again once storage can be reached: messages left on the queue are handled then", exceptionInfo.SourceException);

    private Task StopAsync(string what, string then, Exception exception)
    {
        logger.LogError(
            "{What} ({Error}: {Message}); the relay stops, as the Functions host does (on Azure the platform starts it again). {Then}",
            what, exception.GetType().Name, exception.Message, then);
        lifetime.StopApplication();
        return Task.CompletedTask;
    }
}
