{{/* Labels on every object of the release. */}}
{{- define "updraft.labels" -}}
app.kubernetes.io/part-of: updraft
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "name" "updraft-activator"). */}}
{{- define "updraft.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "updraft.tag" -}}
{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "updraft.image" -}}
{{ printf "%s/%s:%s" .Values.image.registry .Values.image.controller (include "updraft.tag" .) }}
{{- end -}}

{{- define "updraft.activatorUrl" -}}
{{ .Values.activatorUrl | default (printf "http://updraft-activator.%s.svc:%v" .Release.Namespace .Values.activator.port) }}
{{- end -}}

{{- define "updraft.natsUrl" -}}
{{ .Values.async.natsUrl | default (printf "nats://updraft-nats.%s.svc:4222" .Release.Namespace) }}
{{- end -}}

{{/* The pod-level settings every component shares: (dict "ctx" $ "c" .Values.activator). */}}
{{- define "updraft.podSpec" -}}
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "updraft.podMeta" -}}
labels:
  {{- include "updraft.selector" (dict "ctx" .ctx "name" .name) | nindent 2 }}
  app.kubernetes.io/component: {{ .component }}
  app.kubernetes.io/part-of: updraft
  {{- with .ctx.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $ann := merge (dict) (.annotations | default dict) (.c.podAnnotations | default dict) (.ctx.Values.podAnnotations | default dict) }}
{{- with $ann }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "updraft.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
{{- end -}}

{{/* Warm pool sizes as runtime=size pairs, e.g. "nodejs24=2,python3.11=1". */}}
{{- define "updraft.warmPoolSizes" -}}
{{- $pairs := list -}}
{{- range $runtime, $size := .Values.warmPool.sizes -}}
{{- $pairs = append $pairs (printf "%s=%d" $runtime (int $size)) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/*
Binds a component's ClusterRole to its ServiceAccount: cluster-wide, or — with
watchNamespaces — in each served namespace only, by RoleBindings (a RoleBinding may name a
ClusterRole: the rules then hold in that namespace alone). `extra` adds namespaces (the
release's own, for what a component reads there).
(dict "ctx" $ "role" "updraft-activator" "sa" "updraft-activator" "extra" (list))
*/}}
{{- define "updraft.binding" -}}
{{- $ctx := .ctx -}}
{{- $role := .role -}}
{{- $sa := .sa -}}
{{- if $ctx.Values.watchNamespaces }}
{{- range $ns := concat $ctx.Values.watchNamespaces (.extra | default list) | uniq }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $role }}
  namespace: {{ $ns }}
  labels:
    {{- include "updraft.labels" $ctx | nindent 4 }}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{ $role }}}
subjects:
  - {kind: ServiceAccount, name: {{ $sa }}, namespace: {{ $ctx.Release.Namespace }}}
{{- end }}
{{- else }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $role }}
  labels:
    {{- include "updraft.labels" $ctx | nindent 4 }}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: {{ $role }}}
subjects:
  - {kind: ServiceAccount, name: {{ $sa }}, namespace: {{ $ctx.Release.Namespace }}}
{{- end }}
{{- end -}}

{{/* UPDRAFT_WATCH_NAMESPACES for every component: "team-a,team-b", or empty for all. */}}
{{- define "updraft.watchNamespaces" -}}
{{ join "," (.Values.watchNamespaces | default list) }}
{{- end -}}
