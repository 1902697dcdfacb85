# Certificates and kubeconfigs of the component cluster (sourced by cluster.sh and node.sh).

PKI_CLIENT="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"

# pki_cert DIR NAME SUBJECT EXTENSIONS: DIR/NAME.key and DIR/NAME.crt signed by DIR/ca.crt.
pki_cert() {
  ( cd "$1"
    openssl req -newkey rsa:2048 -nodes -keyout "$2.key" -out "$2.csr" -subj "$3" 2>/dev/null
    printf '%s\n' "$4" > "$2.ext"
    openssl x509 -req -in "$2.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -out "$2.crt" -extfile "$2.ext" 2>/dev/null
    rm -f "$2.csr" "$2.ext" )
}

# pki_kubeconfig FILE SERVER DIR NAME: a kubeconfig for the certificate DIR/NAME at SERVER.
pki_kubeconfig() {
  "$KUBECTL" config set-cluster strom-test --server "$2" --certificate-authority "$3/ca.crt" --embed-certs --kubeconfig "$1" >/dev/null
  "$KUBECTL" config set-credentials "$4" --client-certificate "$3/$4.crt" --client-key "$3/$4.key" --embed-certs --kubeconfig "$1" >/dev/null
  "$KUBECTL" config set-context strom-test --cluster strom-test --user "$4" --kubeconfig "$1" >/dev/null
  "$KUBECTL" config use-context strom-test --kubeconfig "$1" >/dev/null
}
