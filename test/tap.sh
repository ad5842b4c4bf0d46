# TAP for the shell tests (source it): tap STATUS DESCRIPTION prints "ok N - ..."
# when STATUS is 0, else "not ok N - ..."; the scripts end with echo "1..$n".
n=0
tap() {     # tap OK DESCRIPTION
    n=$((n + 1))
    if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}
