namespace FunctionsRelay.Testing;

/// <summary>
/// Sees each call a stand-in serves (a storage request, a HubSpot request) twice: before it is served
/// (<paramref name="answered"/> false) and once it is served, before the caller gets the answer. Returning true drops it
/// there: the request is never served, or the answer never reaches the caller (who has given up by then).
/// </summary>
public delegate Task<bool> CallInterceptor(string call, bool answered);
