using Microsoft.Extensions.Logging;

namespace FunctionsRelay.Infrastructure;

/// <summary>
/// The log lines written for every request, queue message or event: source-generated (no boxing, no template parsing on
/// the hot path) with stable event ids, so that alerts and queries can name them.
/// </summary>
internal static partial class RelayLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Accepted {Accepted} beacons and {Summaries} session summaries in {Messages} queue messages; ignored {Ignored} foreign events")]
    public static partial void BeaconsAccepted(ILogger logger, int accepted, int summaries, int messages, int ignored);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Rejected a beacon request: {ErrorCount} errors, the first {FirstError}")]
    public static partial void BeaconsRejected(ILogger logger, int errorCount, string firstError);

    [LoggerMessage(EventId = 2001, Message = "Session {PortalId}/{SessionId}: {Added} beacons merged, {Duplicates} duplicates, {AfterClose} dropped as they came after the session closed, {LogFull} over the log limit")]
    public static partial void BeaconsMerged(ILogger logger, LogLevel level, long portalId, string sessionId, int added, int duplicates, int afterClose, int logFull);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Delivered {EventKey} of session {PortalId}/{SessionId}")]
    public static partial void EventDelivered(ILogger logger, string eventKey, long portalId, string sessionId);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Not sending {EventKey} of session {PortalId}/{SessionId}: its portal is behind and a higher quartile of the session is pending (Relay__CoalesceQuartilesAfter)")]
    public static partial void QuartileCoalesced(ILogger logger, string eventKey, long portalId, string sessionId);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "Poisoned message {MessageId} of queue {Queue}: portal {PortalId}, session {SessionId}, {BeaconCount} beacons ({MessageKind}); kept for relay poison --apply")]
    public static partial void MessagePoisoned(ILogger logger, string messageId, string queue, string portalId, string sessionId, int beaconCount, string messageKind);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Session {PortalId}/{SessionId}: another worker holds its delivery lease now; this one stops delivering")]
    public static partial void DeliveryLeaseLost(ILogger logger, long portalId, string sessionId);
}
