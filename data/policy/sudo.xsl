<?xml version="1.0" encoding="UTF-8"?>
<!-- Renders a merged vigil sudo policy (doc/policy.md) as one sudoers file.
     Input has passed data/policy/sudo.rng, so no value needs escaping.
     Elements are written in document order: the merge has put them in the
     order sudoers needs (last match wins). Each command repeats its whole
     Runas, date and tag spec, so nothing depends on what sudoers carries
     over from one command to the next. -->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="UTF-8"/>
  <xsl:strip-space elements="*"/>

  <xsl:template match="/policy">
    <xsl:text># Written by vigil_policy from the directory's sudo policies. Do not edit:&#10;</xsl:text>
    <xsl:text># the next refresh replaces this file (vigilctl policy rollback sudo restores the original).&#10;</xsl:text>
    <xsl:apply-templates select="defaults|rule"/>
  </xsl:template>

  <xsl:template name="provenance">
    <xsl:if test="@source">
      <xsl:text> (policy </xsl:text>
      <xsl:value-of select="@source"/>
      <xsl:if test="@priority">
        <xsl:text>, priority </xsl:text>
        <xsl:value-of select="@priority"/>
      </xsl:if>
      <xsl:text>)</xsl:text>
    </xsl:if>
  </xsl:template>

  <xsl:template match="defaults">
    <xsl:text>&#10;# defaults</xsl:text>
    <xsl:call-template name="provenance"/>
    <xsl:text>&#10;</xsl:text>
    <xsl:for-each select="option">
      <xsl:text>Defaults </xsl:text>
      <xsl:apply-templates select="."/>
      <xsl:text>&#10;</xsl:text>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="option">
    <xsl:if test="@negate = 'true'">!</xsl:if>
    <xsl:value-of select="@name"/>
    <xsl:if test="@value">
      <xsl:choose>
        <xsl:when test="@op"><xsl:value-of select="@op"/></xsl:when>
        <xsl:otherwise>=</xsl:otherwise>
      </xsl:choose>
      <xsl:text>"</xsl:text>
      <xsl:value-of select="@value"/>
      <xsl:text>"</xsl:text>
    </xsl:if>
  </xsl:template>

  <xsl:template name="list">
    <xsl:param name="items"/>
    <xsl:for-each select="$items">
      <xsl:if test="position() > 1">, </xsl:if>
      <xsl:value-of select="."/>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="rule">
    <xsl:text>&#10;# </xsl:text>
    <xsl:value-of select="@name"/>
    <xsl:call-template name="provenance"/>
    <xsl:text>&#10;</xsl:text>
    <!-- sudoers has no per-rule Defaults: rule options bind to the rule's users. -->
    <xsl:if test="option">
      <xsl:text>Defaults:</xsl:text>
      <xsl:call-template name="list"><xsl:with-param name="items" select="user"/></xsl:call-template>
      <xsl:text> </xsl:text>
      <xsl:for-each select="option">
        <xsl:if test="position() > 1">, </xsl:if>
        <xsl:apply-templates select="."/>
      </xsl:for-each>
      <xsl:text>&#10;</xsl:text>
    </xsl:if>
    <xsl:call-template name="list"><xsl:with-param name="items" select="user"/></xsl:call-template>
    <xsl:text> </xsl:text>
    <xsl:call-template name="list"><xsl:with-param name="items" select="host"/></xsl:call-template>
    <xsl:text> = </xsl:text>
    <xsl:variable name="rule" select="."/>
    <xsl:for-each select="command">
      <xsl:if test="position() > 1">, </xsl:if>
      <xsl:if test="$rule/runas-user or $rule/runas-group">
        <xsl:text>(</xsl:text>
        <xsl:call-template name="list"><xsl:with-param name="items" select="$rule/runas-user"/></xsl:call-template>
        <xsl:if test="$rule/runas-group">
          <xsl:text> : </xsl:text>
          <xsl:call-template name="list"><xsl:with-param name="items" select="$rule/runas-group"/></xsl:call-template>
        </xsl:if>
        <xsl:text>) </xsl:text>
      </xsl:if>
      <xsl:if test="$rule/not-before">
        <xsl:text>NOTBEFORE=</xsl:text><xsl:value-of select="$rule/not-before"/><xsl:text> </xsl:text>
      </xsl:if>
      <xsl:if test="$rule/not-after">
        <xsl:text>NOTAFTER=</xsl:text><xsl:value-of select="$rule/not-after"/><xsl:text> </xsl:text>
      </xsl:if>
      <xsl:for-each select="$rule/tag">
        <xsl:value-of select="."/><xsl:text>: </xsl:text>
      </xsl:for-each>
      <xsl:value-of select="."/>
    </xsl:for-each>
    <xsl:text>&#10;</xsl:text>
  </xsl:template>
</xsl:stylesheet>
