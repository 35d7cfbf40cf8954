# bash completion for fsauthctl(1)                          -*- shell-script -*-
#
# The commands and options come from "fsauthctl __complete", which lists
# fsauthctl's own command table: a new command or option completes
# without a change here.  Installed as
# /usr/share/bash-completion/completions/fsauthctl.

_fsauthctl()
{
    local cur prev spec globals line i w
    local -a args lines words f

    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()

    spec=$("${COMP_WORDS[0]}" __complete 2>/dev/null) || return 0
    mapfile -t lines <<<"$spec"
    globals=${lines[0]}

    # values of these options are files
    case $prev in
    -s | --socket | -a | --password-file | --sentinel-password-file)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return 0
        ;;
    esac

    # an option that takes a value: nothing to offer for it
    if [[ $prev == -[hpn] || " $globals " == *" $prev= "* ]]; then
        return 0
    fi

    # the words before the cursor that are not options: the command path
    args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == -[hpsna] || " $globals " == *" $w= "* ]]; then
            ((i++))
        elif [[ $w != -* ]]; then
            args+=("$w")
        fi
    done

    if ((${#args[@]} == 0)); then
        if [[ $cur == -* ]]; then
            read -ra words <<<"${globals//=/} --help"
        else
            words=()
            for line in "${lines[@]:1}"; do
                [[ " ${words[*]} " != *" ${line%% *} "* ]] \
                    && words+=("${line%% *}")
            done
        fi
        mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
        return 0
    fi

    # "help COMMAND": the commands again
    if [[ ${args[0]} == help ]]; then
        words=()
        for line in "${lines[@]:1}"; do
            [[ ${line%% *} != help && " ${words[*]} " != *" ${line%% *} "* ]] \
                && words+=("${line%% *}")
        done
        mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
        return 0
    fi

    # a group ("key", "access", "api") without its sub-command yet
    words=()
    for line in "${lines[@]:1}"; do
        read -ra f <<<"$line"
        if [[ ${f[0]} == "${args[0]}" && -n ${f[1]} && ${f[1]} != --* ]]; then
            words+=("${f[1]}")
        fi
    done

    if ((${#words[@]} > 0 && ${#args[@]} == 1)); then
        mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
        return 0
    fi

    # the command's options; import's FILE is a file
    for line in "${lines[@]:1}"; do
        read -ra f <<<"$line"
        if [[ ${f[0]} == "${args[0]}" ]] \
           && { ((${#words[@]} == 0)) || [[ ${f[1]} == "${args[1]}" ]]; }
        then
            if [[ $cur == -* ]]; then
                words=()
                for w in "${f[@]}"; do
                    [[ $w == --* ]] && words+=("${w%=}")
                done
                words+=(--help)
                mapfile -t COMPREPLY < <(compgen -W "${words[*]}" -- "$cur")
            elif [[ ${f[0]} == import ]]; then
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            fi
            return 0
        fi
    done

    return 0
}

complete -F _fsauthctl fsauthctl
