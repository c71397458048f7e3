using System.CommandLine;

namespace Conclave.Cli;

/// <summary>
/// `conclave completion bash|zsh`: prints a script that completes `conclave` command lines by
/// asking the executable itself through System.CommandLine's [suggest:POSITION] directive.
/// </summary>
public static class CompletionCommand
{
    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh." };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        var command = new Command("completion", "Print a shell completion script: source <(conclave completion bash)") { shell };
        command.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.Write(parse.GetValue(shell) == "zsh" ? Zsh : Bash);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Completes the words after `conclave`: the line without its first word, the cursor moved to match.</summary>
    public const string Bash = """
        # conclave completion for bash: source <(conclave completion bash)
        _conclave_complete() {
            local line="${COMP_LINE:0:COMP_POINT}"
            local rest="${line#*conclave}"
            rest="${rest# }"
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$(conclave "[suggest:${#rest}]" "$rest" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _conclave_complete conclave

        """;

    public const string Zsh = """
        # conclave completion for zsh: source <(conclave completion zsh)
        _conclave_complete() {
            local rest="${BUFFER[1,CURSOR]}"
            rest="${rest#*conclave}"
            rest="${rest# }"
            local -a suggestions
            suggestions=("${(@f)$(conclave "[suggest:${#rest}]" "$rest" 2>/dev/null)}")
            compadd -a suggestions
        }
        compdef _conclave_complete conclave

        """;
}
