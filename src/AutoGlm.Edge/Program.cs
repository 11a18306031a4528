using System.CommandLine;
using AutoGlm.Edge.Cli;

var parse = CommandLine.Create().Parse(args);

// The daemon's Generic Host handles SIGTERM itself and drains running jobs (Mqtt:ShutdownGracePeriod);
// System.CommandLine's own handler would exit with 143 after two seconds, cutting that short.
var isDaemon = parse.CommandResult.Command is RootCommand || parse.CommandResult.Command.Name is "run" or "sensors";
var invocation = new InvocationConfiguration { ProcessTerminationTimeout = isDaemon ? null : TimeSpan.FromSeconds(2) };
return await parse.InvokeAsync(invocation).ConfigureAwait(false);
