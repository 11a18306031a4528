using AutoGlm.Edge.Cli;

return await CommandLine.InvokeAsync(args).ConfigureAwait(false);
