using System.CommandLine;
using FunctionsRelay.Cli.Verbs;
using FunctionsRelay.Infrastructure;
using FunctionsRelay.Infrastructure.HubSpot;
using FunctionsRelay.Infrastructure.Protection;
using FunctionsRelay.Infrastructure.Storage;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FunctionsRelay.Cli;

/// <summary>The verbs of <c>relay</c>. Exit codes: 0 done, 1 HubSpot (or storage) refused a step, 2 the command line is wrong.</summary>
public static class RelayCli
{
    public const int Done = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    /// <summary>Each verb: its usage line, what it does, and its command (options, checks, action).</summary>
    private static readonly (string Synopsis, string Description, Func<IServiceProvider, TextWriter, Command> Create)[] Verbs =
    [
        (SetupVerb.Synopsis, SetupVerb.Description, SetupVerb.Create),
        (PortalVerb.Synopsis, PortalVerb.Description, PortalVerb.Create),
        (MediaVerb.Synopsis, MediaVerb.Description, MediaVerb.Create),
        (StatusVerb.Synopsis, StatusVerb.Description, StatusVerb.Create),
        (DeadLettersVerb.Synopsis, DeadLettersVerb.Description, DeadLettersVerb.Create),
        (RederiveVerb.Synopsis, RederiveVerb.Description, RederiveVerb.Create),
        (PoisonVerb.Synopsis, PoisonVerb.Description, PoisonVerb.Create),
        (ForgetVerb.Synopsis, ForgetVerb.Description, ForgetVerb.Create),
    ];

    /// <summary><c>relay --help</c>: every verb's usage and what it does (<c>relay VERB --help</c> lists a verb's options).</summary>
    private static string Help =>
        "relay: the FunctionsRelay operator's command line.\n\n"
        + string.Concat(Verbs.Select(verb => $"{verb.Synopsis}\n\n{Indent(verb.Description)}\n\n"))
        + "relay --help, relay VERB --help";

    private static string Indent(string text) => string.Join('\n', text.Split('\n').Select(line => "  " + line));

    /// <summary>
    /// The relay's services as the command uses them: the hosts' own, except that it never makes a key of the key ring
    /// (the hosts do, on first use): a command run against the wrong settings must not add a key every instance then uses.
    /// </summary>
    public static IServiceCollection AddRelayCommand(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddLogging().AddRelay(configuration);
        services.Configure<KeyManagementOptions>(options => options.AutoGenerateKeys = false);
        return services;
    }

    public static async Task<int> RunAsync(string[] args, IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args is ["--help" or "-h" or "-?" or "help"])
        {
            await output.WriteLineAsync(Help);
            return args.Length == 0 ? Usage : Done;
        }

        // The whole command line is read and checked before anything is read from storage or changed.
        var root = new RootCommand("relay: the FunctionsRelay operator's command line");
        foreach (var verb in Verbs)
            root.Subcommands.Add(verb.Create(services, output));
        if (!root.Subcommands.Any(verb => verb.Name == args[0]))
            return await UsageAsync(output, $"unknown verb '{args[0]}'");
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors.Select(error => error.Message).Distinct())
                await output.WriteLineAsync($"relay: {error}");
            await output.WriteLineAsync($"(relay {args[0]} --help lists its options)");
            return Usage;
        }

        try
        {
            // The settings are checked first, as the hosts check them at start.
            _ = services.GetRequiredService<IOptions<RelayOptions>>().Value;
            _ = services.GetRequiredService<IOptions<HubSpotOptions>>().Value;
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = output, EnableDefaultExceptionHandler = false }, cancellationToken);
        }
        catch (Exception ex) when (SettingsProblem(ex) is { } problem)
        {
            await output.WriteLineAsync($"relay: {problem.Message}");
            return Usage;
        }
        catch (Exception ex) when (MissingStorage.IsMissing(ex))
        {
            await output.WriteLineAsync($"relay: the relay's storage has no such queue or table ({(ex as Azure.RequestFailedException)?.ErrorCode}): start the relay once (it makes them), or check AzureWebJobsStorage and the Relay__*Table and Relay__*Queue settings");
            return Failed;
        }
        catch (Exception ex) when (StorageClients.IsUnavailable(ex) && !cancellationToken.IsCancellationRequested)
        {
            await output.WriteLineAsync($"relay: the relay's storage could not be reached or refused the request ({StorageProblem(ex)}): check AzureWebJobsStorage (for Azurite: UseDevelopmentStorage=true, with Azurite running)");
            return Failed;
        }
    }

    /// <summary>What storage said, without the request: its error code and status, or why there was no answer.</summary>
    private static string StorageProblem(Exception ex) => ex switch
    {
        Azure.RequestFailedException { Status: 0, InnerException: { } cause } => StorageProblem(cause),
        Azure.RequestFailedException failed => $"{failed.Status} {failed.ErrorCode}".Trim(),
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => StorageProblem(aggregate.InnerExceptions[0]),
        _ => ex.GetType().Name + (ex.InnerException is { } inner ? ": " + inner.Message : ": " + ex.Message),
    };

    /// <summary>A setting the command cannot run with, however deep Data Protection wrapped it.</summary>
    private static Exception? SettingsProblem(Exception? ex) => ex switch
    {
        null => null,
        OptionsValidationException or KeyRingMisconfiguredException => ex,
        _ => SettingsProblem(ex.InnerException),
    };

    /// <summary>A wrong command line found by a verb before it changed anything (a setting it needs, a file that is not there).</summary>
    internal static async Task<int> UsageAsync(TextWriter output, string problem)
    {
        await output.WriteLineAsync($"relay: {problem}\n\n{Help}");
        return Usage;
    }
}
